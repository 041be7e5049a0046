/**
 * Loads the compiled addon (build/Release/ctrlora_native.node, built by `npm install` through
 * build.mjs) once, on first use, and says why when it cannot.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The functions the addon exports (src/addon.cc). Outputs are preallocated Float32Arrays. */
export interface NativeAddon {
  isa(): string;
  threads(): number;
  setThreads(n: number): void;
  copy(dst: Float32Array, src: Float32Array, srcOffset: number, rank: number, dims: Float64Array, dstOffset: number): void;
  pad(out: Float32Array, x: Float32Array, rank: number, dims: Float64Array, value: number): void;
  concat(out: Float32Array, inputs: Float32Array[], outer: number, sizes: Float64Array, inner: number): void;
  unary(op: number, x: Float32Array, out: Float32Array): void;
  unaryGrad(op: number, x: Float32Array, gy: Float32Array, out: Float32Array): void;
  binary(op: number, out: Float32Array, a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, rank: number, dims: Float64Array): void;
  where(out: Float32Array, c: Float32Array, cOffset: number, a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, rank: number, dims: Float64Array): void;
  clamp(x: Float32Array, out: Float32Array, min: number, max: number): void;
  reduceRows(op: number, x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  matmul(a: Float32Array, b: Float32Array, out: Float32Array, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean): void;
  conv2d(x: Float32Array, w: Float32Array, out: Float32Array, geometry: Float64Array): void;
  conv2dGradInput(gy: Float32Array, w: Float32Array, out: Float32Array, geometry: Float64Array): void;
  conv2dGradWeight(x: Float32Array, gy: Float32Array, out: Float32Array, geometry: Float64Array): void;
  upsample(x: Float32Array, out: Float32Array, planes: number, h: number, w: number, sh: number, sw: number): void;
  upsampleGrad(gy: Float32Array, out: Float32Array, planes: number, h: number, w: number, sh: number, sw: number): void;
  avgPool(x: Float32Array, out: Float32Array, geometry: Float64Array): void;
  avgPoolGrad(gy: Float32Array, out: Float32Array, geometry: Float64Array): void;
  normRows(x: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number): void;
  normRowsGrad(xhat: Float32Array, gy: Float32Array, rstd: Float32Array, out: Float32Array, rows: number, cols: number): void;
  softmaxRows(x: Float32Array, out: Float32Array, rows: number, cols: number, log: boolean): void;
  softmaxRowsGrad(y: Float32Array, gy: Float32Array, out: Float32Array, rows: number, cols: number, log: boolean): void;
  gatherRows(table: Float32Array, indices: Float32Array, out: Float32Array, count: number, dim: number): void;
  gatherRowsGrad(gy: Float32Array, indices: Float32Array, out: Float32Array, count: number, vocab: number, dim: number): void;
  adam(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, p2: Float32Array, m2: Float32Array, v2: Float32Array, hyper: Float64Array): void;
}

export type NativeStatus = { available: true; isa: string } | { available: false; reason: string };

const here = fileURLToPath(new URL('.', import.meta.url));
/** Where build.mjs puts the addon, and the one line it leaves when the build failed. */
export const ADDON_PATH = `${here}build/Release/ctrlora_native.node`;
export const BUILD_FAILURE_PATH = `${here}build-failure.txt`;

let loaded: { addon: NativeAddon } | { reason: string } | null = null;

function load(): { addon: NativeAddon } | { reason: string } {
  if (process.env.CTRLORA_NATIVE_DISABLE === '1') return { reason: 'disabled by CTRLORA_NATIVE_DISABLE=1' };
  if (!existsSync(ADDON_PATH)) {
    const why = existsSync(BUILD_FAILURE_PATH) ? readFileSync(BUILD_FAILURE_PATH, 'utf8').trim() : 'it was never built';
    return { reason: `the native addon is not built (${why}); build it with \`npm run build:native\`` };
  }
  try {
    const addon = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    return { addon };
  } catch (e) {
    return { reason: `the native addon ${ADDON_PATH} does not load: ${(e as Error).message}` };
  }
}

/** The addon, loaded once; null when it is unavailable (nativeStatus() says why). */
export function nativeAddon(): NativeAddon | null {
  loaded ??= load();
  return 'addon' in loaded ? loaded.addon : null;
}

/**
 * Whether the native backend can run here, and if so which GEMM kernel the CPU got
 * (`avx512`, `avx2` or `portable`; CTRLORA_NATIVE_ISA caps it), else why not.
 */
export function nativeStatus(): NativeStatus {
  const addon = nativeAddon();
  if (addon) return { available: true, isa: addon.isa() };
  return { available: false, reason: (loaded as { reason: string }).reason };
}
