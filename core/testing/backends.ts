/**
 * Which backends a cross-backend check runs on: each gpu.js mode (plus webasm with its thread
 * pool) and the native addon, whichever can run on this machine.
 */
import type { Backend } from '../backend.ts';
import { GpuJsBackend, GPUJS_MODES, type GpuJsMode } from '../backends/gpujs/index.ts';

/** A gpu.js configuration under test: a mode, and for webasm optionally its thread pool. */
export type GpuJsVariant = GpuJsMode | 'webasm+threads';
export const GPUJS_VARIANTS: readonly GpuJsVariant[] = [...GPUJS_MODES, 'webasm+threads'];

/**
 * The variants a comma list names (`"cpu,webasm"`), or all of them when the list is empty or
 * undefined: tests pass `process.env.GPUJS_MODES`. An unknown name is an error.
 */
export function gpujsVariants(list?: string): GpuJsVariant[] {
  if (!list) return [...GPUJS_VARIANTS];
  const picked = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const m of picked) if (!GPUJS_VARIANTS.includes(m as GpuJsVariant)) throw new Error(`GPUJS_MODES: unknown mode '${m}' (known: ${GPUJS_VARIANTS.join(', ')})`);
  return picked as GpuJsVariant[];
}

export function modeOf(v: GpuJsVariant): GpuJsMode {
  return v === 'webasm+threads' ? 'webasm' : v;
}

const gpujsBackends = new Map<GpuJsVariant, GpuJsBackend>();

/**
 * One strict gpu.js backend per variant, made once and shared (compiled kernels are reused).
 * Strict: a mode that cannot run here throws instead of falling back to another silently.
 */
export function gpujsBackend(variant: GpuJsVariant): GpuJsBackend {
  let b = gpujsBackends.get(variant);
  if (!b) {
    b = new GpuJsBackend({ mode: modeOf(variant), strict: true, threads: variant === 'webasm+threads' });
    gpujsBackends.set(variant, b);
  }
  return b;
}

export interface AvailableBackends {
  backends: Backend[];
  /** What was tried and could not run here, with the reason. */
  unavailable: { name: string; reason: string }[];
}

/** The native addon's backend module, when this checkout has one (it loads lazily; absent before it is built). */
async function nativeBackend(): Promise<Backend | string> {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  let mod: { NativeBackend: new () => Backend; nativeStatus(): { available: boolean; reason?: string } };
  try {
    mod = await import(new URL(`../backends/native/index${ext}`, import.meta.url).href);
  } catch (e) {
    return `no native backend module (${(e as Error).message.split('\n')[0]})`;
  }
  const status = mod.nativeStatus();
  return status.available ? new mod.NativeBackend() : (status.reason ?? 'not available');
}

/**
 * Every backend that runs here besides the reference: the gpu.js variants (default: all; pass
 * a subset) and native. A gpu.js mode that cannot start (no X display for headlessgl, no WebGPU
 * adapter) lands in `unavailable` with gpu.js's reason; check that list when every mode must run.
 */
export async function availableBackends(options: { gpujs?: readonly GpuJsVariant[]; native?: boolean } = {}): Promise<AvailableBackends> {
  const out: AvailableBackends = { backends: [], unavailable: [] };
  for (const v of options.gpujs ?? GPUJS_VARIANTS) {
    try {
      out.backends.push(gpujsBackend(v));
    } catch (e) {
      out.unavailable.push({ name: `gpujs:${v}`, reason: (e as Error).message });
    }
  }
  if (options.native ?? true) {
    const n = await nativeBackend();
    if (typeof n === 'string') out.unavailable.push({ name: 'native', reason: n });
    else out.backends.push(n);
  }
  return out;
}
