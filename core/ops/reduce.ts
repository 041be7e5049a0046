/**
 * Reductions over any set of axes with keepdim. The reduced axes are moved last so the
 * backend reduces rows of a contiguous [rows, cols] block; mean and var are built from sum.
 */
import { attach, noGrad } from '../autograd.ts';
import type { ReduceOp } from '../backend.ts';
import { ArgumentError } from '../errors.ts';
import { normAxes, normAxis, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { where } from './binary.ts';
import { arange } from './creation.ts';
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
  /** torch's older spelling: true = correction 1, false = correction 0. Not with `correction`. */
  unbiased?: boolean;
  keepdim?: boolean;
}

function correctionOf(op: string, options: VarOptions): number {
  if (options.unbiased !== undefined && options.correction !== undefined) {
    throw new ArgumentError(`${op}: give either unbiased or correction, not both`);
  }
  if (options.unbiased !== undefined && typeof options.unbiased !== 'boolean') {
    throw new ArgumentError(`${op}: unbiased must be a boolean, got ${String(options.unbiased)}`);
  }
  const correction = options.correction ?? (options.unbiased === false ? 0 : 1);
  if (!Number.isFinite(correction) || correction < 0) throw new ArgumentError(`${op}: correction must be >= 0, got ${correction}`);
  return correction;
}

/** Variance over axes (all by default), unbiased unless told otherwise; like torch, n <= correction gives inf or NaN. */
export function variance(x: Tensor, axes?: Axes, options: VarOptions = {}): Tensor {
  const correction = correctionOf('var', options);
  const { cols } = plan(x, axes, 'var');
  const centred = x.sub(mean(x, axes, true));
  return sum(centred.square(), axes, options.keepdim ?? false).div(Math.max(0, cols - correction));
}

/** Standard deviation: the square root of variance() (torch.std: unbiased / correction, keepdim). */
export function std(x: Tensor, axes?: Axes, options: VarOptions = {}): Tensor {
  correctionOf('std', options);
  return variance(x, axes, options).sqrt();
}

/**
 * log(sum(exp(x))) over axes (all by default), stably: the max is subtracted first (and an
 * infinite max is not, as in torch, so a row of -inf gives -inf and a +inf gives +inf).
 * The gradient, softmax(x), comes from the tape.
 */
export function logsumexp(x: Tensor, axes?: Axes, keepdim = false): Tensor {
  const { cols } = plan(x, axes, 'logsumexp');
  if (cols === 0) return sum(x, axes, keepdim).log(); // log(0) = -inf, torch's value for an empty sum
  const m = noGrad(() => {
    const mx = max(x, axes, true);
    return where(mx.abs().eq(Infinity), 0, mx);
  });
  const s = x.sub(m).exp().sum(axes, keepdim);
  return s.log().add(keepdim ? m : m.reshape(s.shape));
}

/**
 * Index of the largest (argmax) or smallest (argmin) value along an axis, the first one on a
 * tie, a NaN counting as the extreme (torch's rule); over the flattened tensor when no axis
 * is given. Indices come back as float32 integers and carry no gradient.
 */
function argExtreme(op: 'argmax' | 'argmin') {
  return (x: Tensor, axis?: number, keepdim = false): Tensor =>
    noGrad(() => {
      if (axis === undefined) {
        const flat = argExtreme(op)(x.reshape([-1]), 0, false);
        return keepdim ? flat.reshape(x.shape.map(() => 1)) : flat;
      }
      const a = normAxis(axis, x.ndim, op);
      const n = x.shape[a]!;
      if (n === 0) throw new ArgumentError(`${op}: cannot take the ${op} of an empty axis (axis ${axis} of a tensor of shape [${x.shape.join(', ')}])`);
      const best = (op === 'argmax' ? max : min)(x, a, true);
      const nan = x.ne(x);
      const hit = where(nan.max(a, true), nan, x.eq(best));
      const position = arange(n, undefined, 1, { backend: x.backend }).reshape(x.shape.map((d, i) => (i === a ? n : 1)));
      return min(where(hit, position, n), a, keepdim);
    });
}
export const argmax = argExtreme('argmax');
export const argmin = argExtreme('argmin');
