/** Helpers shared by the op files: making results, checking backends, undoing broadcasts. */
import type { Backend, Storage } from '../backend.ts';
import { getDefaultBackend } from '../backends/default.ts';
import { ArgumentError } from '../errors.ts';
import { type Shape, sameShape } from '../shape.ts';
import { Tensor, type TensorOrScalar } from '../tensor.ts';

/** A tensor over a new contiguous storage; it takes `shape` as is (a fresh or immutable array). */
export function wrap(storage: Storage, shape: Shape): Tensor {
  return new Tensor(storage, shape, undefined, 0, true);
}

/** The one backend all tensor inputs live on; an error names the op and both backends. */
export function backendOf(op: string, ...inputs: (TensorOrScalar | null | undefined)[]): Backend {
  let found: Backend | null = null;
  for (const t of inputs) {
    if (!(t instanceof Tensor)) continue;
    if (found && t.backend !== found) {
      throw new ArgumentError(`${op}: inputs live on different backends ('${found.name}' and '${t.backend.name}'); move one first`);
    }
    found = t.backend;
  }
  return found ?? getDefaultBackend();
}

export function asTensor(x: TensorOrScalar, backend: Backend, op: string): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== 'number') throw new ArgumentError(`${op}: expected a Tensor or a number, got ${typeof x}`);
  return wrap(backend.fill(1, x), []);
}

/** The storage of a contiguous, offset-0 copy of t (t's own storage when it already is one). */
export function dense(t: Tensor): Storage {
  return t.isContiguous() && t.offset === 0 && t.storage.size === t.size ? t.storage : t.backend.copy(t);
}

/** Sums a broadcast gradient back down to `shape` (the gradient rule of broadcasting). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  const summed = axes.length ? g.sum(axes, true) : g;
  return summed.reshape(shape);
}

export function checkFinite(op: string, name: string, value: number): void {
  if (!Number.isFinite(value)) throw new ArgumentError(`${op}: ${name} must be a finite number, got ${value}`);
}
