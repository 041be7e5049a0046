/**
 * Cross-backend comparison: run the same computation on the reference backend and on another
 * backend, and compare every output elementwise within a tolerance derived from how many terms
 * were summed to make each value (a float32 sum of L terms drifts by about sqrt(L) roundings).
 */
import type { Backend } from '../backend.ts';
import { ReferenceBackend } from '../backends/reference.ts';
import { withBackend } from '../backends/default.ts';
import { tidy } from '../memory.ts';
import type { Tensor } from '../tensor.ts';

/** float32's unit roundoff. */
export const U32 = 2 ** -24;

export interface Tolerance {
  /** Length of the longest sum behind one output (1 for elementwise ops; K for a matmul over K; C·kh·kw for a conv). */
  reduction?: number;
  /** Largest |term| of those sums (default: the largest |reference value|, at least 1). */
  termMax?: number;
  /** Relative error allowed on top of the reduction bound (transcendentals; default 1e-5). */
  rtol?: number;
  /** Absolute error allowed on top (default 1e-6). */
  atol?: number;
}

/** What a cross-backend check compares: one tensor, or a list (a missing gradient is null). */
export type Outputs = Tensor | readonly (Tensor | null | undefined)[];

export class BackendMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendMismatchError';
  }
}

/**
 * Throws unless |got - want| <= atol + rtol |want| + 4 sqrt(L) u (L termMax) elementwise: L is
 * the reduction length and L termMax bounds the sum of |terms|; sqrt(L) u times that sum is the
 * usual (probabilistic) rounding error of an L-term float32 sum (the rigorous L u bound is so
 * loose it would hide a dropped term). NaN and the infinities match only themselves. The error
 * names `what`, the first bad index, both values and the bound.
 */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: Tolerance, what: string): void {
  if (got.length !== want.length) throw new BackendMismatchError(`${what}: ${got.length} values, reference ${want.length}`);
  const L = tol.reduction ?? 1;
  let scale = 0;
  for (let i = 0; i < want.length; i++) if (Number.isFinite(want[i])) scale = Math.max(scale, Math.abs(want[i]!));
  const termMax = tol.termMax ?? Math.max(scale, 1);
  const slack = (tol.atol ?? 1e-6) + 4 * Math.sqrt(L) * U32 * L * termMax;
  const rtol = tol.rtol ?? 1e-5;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    if (Number.isNaN(w) && Number.isNaN(g)) continue;
    if (w === g) continue;
    // an infinite reference would make the bound infinite and accept anything
    if (!Number.isFinite(w) || !Number.isFinite(g)) throw new BackendMismatchError(`${what}: element ${i} is ${g}, reference ${w}`);
    const bound = slack + rtol * Math.abs(w);
    if (!(Math.abs(g - w) <= bound)) {
      throw new BackendMismatchError(`${what}: element ${i} is ${g}, reference ${w} (|diff| ${Math.abs(g - w)} > ${bound}, reduction length ${L})`);
    }
  }
}

const toList = (r: Outputs): (Tensor | null)[] => (Array.isArray(r) ? r : [r]).map((t) => t ?? null);

/** The reference backend the checks compare against (float32 storage, float64 accumulation). */
export const reference = new ReferenceBackend();

/**
 * Runs `fn` on the reference backend and on `backend` (draw inputs inside fn from fixed seeds,
 * so both runs see the same numbers) and compares every tensor it returns, shapes included.
 * The run on `backend` is wrapped in its tidy scope, so a failing case leaks nothing.
 */
export function compareWithReference(backend: Backend, fn: () => Outputs, tol: Tolerance, what: string): void {
  const read = () => toList(fn()).map((t) => (t ? { shape: [...t.shape], values: t.toArray(), backend: t.backend } : null));
  const want = withBackend(reference, read);
  const got = withBackend(backend, () => tidy(read, backend));
  if (got.length !== want.length) throw new BackendMismatchError(`${what}: ${got.length} outputs on ${backend.name}, ${want.length} on the reference`);
  want.forEach((w, i) => {
    const g = got[i]!;
    if ((g === null) !== (w === null)) throw new BackendMismatchError(`${what}: output ${i} is present on ${g ? backend.name : 'the reference'} only`);
    if (!w || !g) return;
    // a tensor made on another backend would compare the reference with itself
    if (g.backend !== backend) throw new BackendMismatchError(`${what}: output ${i} was computed on ${g.backend.name}, not on ${backend.name}`);
    if (g.shape.join() !== w.shape.join()) throw new BackendMismatchError(`${what} [${backend.name}] output ${i}: shape [${g.shape}], reference [${w.shape}]`);
    assertClose(g.values, w.values, tol, `${what} [${backend.name}] output ${i}`);
  });
}

/** compareWithReference on each backend in turn. */
export function compareOnBackends(backends: readonly Backend[], fn: () => Outputs, tol: Tolerance, what: string): void {
  for (const b of backends) compareWithReference(b, fn, tol, what);
}
