/**
 * Shared by the gpu.js tests: which modes to run, one backend per mode, and comparison of a
 * computation on a gpu.js backend against the same computation on the reference backend.
 */
import { describe, expect, it } from 'vitest';
import { GpuJsBackend, GPUJS_MODES, type GpuJsMode } from '../../core/backends/gpujs/index.ts';
import { ReferenceBackend, type Tensor, withBackend } from '../../core/index.ts';
import { UNAVAILABLE_TEST } from './mode-summary.ts';

/** A backend configuration under test: a gpu.js mode, and for webasm optionally its thread pool. */
export type Variant = GpuJsMode | 'webasm+threads';
const VARIANTS: readonly Variant[] = [...GPUJS_MODES, 'webasm+threads'];

/** The variants asked for: all (the four modes, plus webasm with threads) unless GPUJS_MODES narrows them (a comma list). */
const REQUESTED: readonly Variant[] = (() => {
  const env = process.env.GPUJS_MODES;
  if (!env) return VARIANTS;
  const picked = env.split(',').map((s) => s.trim()).filter(Boolean);
  for (const m of picked) if (!VARIANTS.includes(m as Variant)) throw new Error(`GPUJS_MODES: unknown mode '${m}' (known: ${VARIANTS.join(', ')})`);
  return picked as Variant[];
})();

export function modeOf(v: Variant): GpuJsMode {
  return v === 'webasm+threads' ? 'webasm' : v;
}

const backends = new Map<Variant, GpuJsBackend>();

/** One strict backend per variant, shared by the tests of a file (compiled kernels are reused). */
export function backendFor(variant: Variant): GpuJsBackend {
  let b = backends.get(variant);
  if (!b) {
    b = new GpuJsBackend({ mode: modeOf(variant), strict: true, threads: variant === 'webasm+threads' });
    backends.set(variant, b);
  }
  return b;
}

/** Every requested mode must run (CI sets GPUJS_MODES_REQUIRED=1 in .ci/run): nothing is skipped. */
export const MODES_REQUIRED = process.env.GPUJS_MODES_REQUIRED === '1';

/**
 * Why each requested variant cannot run on this machine (no `gl` build, no X display, no
 * WebGPU adapter), found by building its backend. Empty when every mode is required: then a
 * mode that cannot run fails its suites, loudly.
 */
export const UNAVAILABLE: ReadonlyMap<Variant, string> = (() => {
  const why = new Map<Variant, string>();
  if (MODES_REQUIRED) return why;
  for (const v of REQUESTED) {
    try {
      backendFor(v);
    } catch (e) {
      why.set(v, (e as Error).message.replace(/\s+/g, ' ').slice(0, 300));
    }
  }
  return why;
})();

/**
 * The variants under test: the requested ones that can run here. A variant left out is not
 * silent: every test file using this harness shows it as one skipped test carrying the
 * reason, and tests/gpu/mode-summary.ts prints them all in one line at the end of the run.
 */
export const MODES: readonly Variant[] = REQUESTED.filter((v) => !UNAVAILABLE.has(v));

for (const [variant, why] of UNAVAILABLE) {
  describe(`gpu.js ${variant}`, () => it(UNAVAILABLE_TEST, (ctx) => ctx.skip(`${variant}: ${why}`)));
}

export const reference = new ReferenceBackend();

/** float32's unit roundoff. */
export const U32 = 2 ** -24;

export interface Tolerance {
  /** Length of the longest sum behind one output (1 for elementwise ops). */
  reduction?: number;
  /** Largest |term| of those sums (default: the largest |reference value|, at least 1). */
  termMax?: number;
  /** Relative error allowed on top of the reduction bound (transcendentals). */
  rtol?: number;
  atol?: number;
}

/**
 * |got - want| <= atol + rtol |want| + 4 sqrt(L) u (L termMax), elementwise: L is the
 * reduction length, L termMax bounds the sum of |terms|, and sqrt(L) u that sum is the
 * usual (probabilistic) rounding error of an L-term float32 sum; the rigorous L u bound is
 * so loose it would hide a dropped term. Reports the first bad index.
 */
export function expectClose(got: Float32Array, want: Float32Array, tol: Tolerance, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  const L = tol.reduction ?? 1;
  let scale = 0;
  for (const v of want) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  const termMax = tol.termMax ?? Math.max(scale, 1);
  const slack = (tol.atol ?? 1e-6) + 4 * Math.sqrt(L) * U32 * L * termMax;
  const rtol = tol.rtol ?? 1e-5;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (w === g) continue;
    // NaN and the infinities match only themselves (an infinite bound would accept anything).
    if (!Number.isFinite(w) || !Number.isFinite(g)) throw new Error(`${what}: element ${i} is ${g}, reference ${w}`);
    const bound = slack + rtol * Math.abs(w);
    if (!(Math.abs(g - w) <= bound)) {
      throw new Error(`${what}: element ${i} is ${g}, reference ${w} (|diff| ${Math.abs(g - w)} > ${bound}, reduction length ${L})`);
    }
  }
}

/**
 * Runs fn on the reference backend and on `backend` (same seeds inside fn) and compares
 * every tensor it returns.
 */
export function compareWithReference(
  backend: GpuJsBackend,
  fn: () => Tensor | readonly (Tensor | null)[],
  tol: Tolerance,
  what: string,
): void {
  const toList = (r: Tensor | readonly (Tensor | null)[]) => (Array.isArray(r) ? r : [r]) as (Tensor | null)[];
  const want = withBackend(reference, () => toList(fn()).map((t) => t?.toArray() ?? null));
  const got = withBackend(backend, () => backend.tidy(() => toList(fn()).map((t) => t?.toArray() ?? null)));
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i];
    expect(g === null, `${what}: output ${i} present on one backend only`).toBe(w === null);
    if (w && g) expectClose(g, w, tol, `${what} [${backend.name}] output ${i}`);
  });
}
