/**
 * Shared by the gpu.js tests: which modes to run, one backend per mode, and comparison of a
 * computation on a gpu.js backend against the same computation on the reference backend.
 */
import { expect } from 'vitest';
import { GpuJsBackend, GPUJS_MODES, type GpuJsMode } from '../../core/backends/gpujs/index.ts';
import { type Backend, ReferenceBackend, type Tensor, tidy, withBackend } from '../../core/index.ts';

/** A backend configuration under test: a gpu.js mode, and for webasm optionally its thread pool. */
export type Variant = GpuJsMode | 'webasm+threads';
const VARIANTS: readonly Variant[] = [...GPUJS_MODES, 'webasm+threads'];

/**
 * The variants under test: all (the four modes, plus webasm with threads) unless
 * GPUJS_MODES narrows them (a comma list). A mode in the list that cannot run here fails
 * its suite: nothing is skipped silently.
 */
export const MODES: readonly Variant[] = (() => {
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
  backend: Backend,
  fn: () => Tensor | readonly (Tensor | null)[],
  tol: Tolerance,
  what: string,
): void {
  const toList = (r: Tensor | readonly (Tensor | null)[]) => (Array.isArray(r) ? r : [r]) as (Tensor | null)[];
  const want = withBackend(reference, () => toList(fn()).map((t) => t?.toArray() ?? null));
  const got = withBackend(backend, () => tidy(() => toList(fn()).map((t) => t?.toArray() ?? null), backend));
  expect(got.length).toBe(want.length);
  want.forEach((w, i) => {
    const g = got[i];
    expect(g === null, `${what}: output ${i} present on one backend only`).toBe(w === null);
    if (w && g) expectClose(g, w, tol, `${what} [${backend.name}] output ${i}`);
  });
}
