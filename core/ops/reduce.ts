/**
 * Reductions over any set of axes with keepdim. The reduced axes are moved last so the
 * backend reduces rows of a contiguous [rows, cols] block; mean and var are built from sum.
 */
import { attach } from '../autograd.ts';
import type { ReduceOp } from '../backend.ts';
import { ArgumentError } from '../errors.ts';
import { normAxes, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { dense, wrap } from './util.ts';
import { permute } from './views.ts';

type Axes = number | readonly number[] | undefined;

function plan(x: Tensor, axes: Axes, op: string) {
  const reduced = normAxes(axes, x.ndim, op);
  const kept = x.shape.map((_, i) => i).filter((i) => !reduced.includes(i));
  const keptShape = x.shape.map((d, i) => (reduced.includes(i) ? 1 : d));
  return { reduced, kept, keptShape, cols: sizeOf(reduced.map((i) => x.shape[i]!)) };
}

function reduceRaw(op: ReduceOp, x: Tensor, axes: Axes, keepdim: boolean, name: string) {
  const { reduced, kept, keptShape, cols } = plan(x, axes, name);
  if (op !== 'sum' && cols === 0) throw new ArgumentError(`${name}: cannot reduce over an empty axis (shape has a 0 in the reduced axes)`);
  const moved = reduced.length && reduced.some((a, i) => a !== x.ndim - reduced.length + i) ? permute(x, [...kept, ...reduced]) : x;
  const rows = sizeOf(kept.map((i) => x.shape[i]!));
  const storage = x.backend.reduceRows(op, dense(moved), rows, cols);
  const shape = keepdim ? keptShape : kept.map((i) => x.shape[i]!);
  return { out: wrap(storage, shape), keptShape, cols };
}

export function sum(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const { out, keptShape } = reduceRaw('sum', x, axes, keepdim, 'sum');
  return attach(out, 'sum', [x], (gy) => [gy.reshape(keptShape).expand(x.shape)]);
}

export function mean(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const { cols } = plan(x, axes, 'mean');
  return sum(x, axes, keepdim).div(cols);
}

/** max/min: ties share the gradient equally (torch's amax rule). */
function extreme(op: 'max' | 'min') {
  return (x: Tensor, axes?: Axes, keepdim = false): Tensor => {
    const { out, keptShape } = reduceRaw(op, x, axes, keepdim, op);
    return attach(out, op, [x], (gy) => {
      const hit = x.eq(out.reshape(keptShape));
      const count = hit.sum(axes, true);
      return [hit.div(count).mul(gy.reshape(keptShape))];
    });
  };
}
export const max = extreme('max');
export const min = extreme('min');

export interface VarOptions {
  /** Subtracted from the count in the divisor: 1 (default) = unbiased, 0 = population. */
  correction?: number;
  keepdim?: boolean;
}

export function variance(x: Tensor, axes?: Axes, options: VarOptions = {}): Tensor {
  const correction = options.correction ?? 1;
  if (!Number.isFinite(correction) || correction < 0) throw new ArgumentError(`var: correction must be >= 0, got ${correction}`);
  const { cols } = plan(x, axes, 'var');
  const centred = x.sub(mean(x, axes, true));
  return sum(centred.square(), axes, options.keepdim ?? false).div(Math.max(0, cols - correction));
}
