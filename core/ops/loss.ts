/** Regression losses, composed from primitives (their gradients come from the tape). */
import { ArgumentError, ShapeError, fmtShape } from '../errors.ts';
import { sameShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(op: string, err: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'mean') return err.mean();
  if (reduction === 'sum') return err.sum();
  if (reduction === 'none') return err;
  throw new ArgumentError(`${op}: reduction must be 'mean', 'sum' or 'none', got '${String(reduction)}'`);
}

/** Shapes must match exactly: a silent broadcast here is almost always a bug. */
function checkPair(op: string, input: Tensor, target: Tensor): void {
  if (!sameShape(input.shape, target.shape)) {
    throw new ShapeError(`${op}: input shape ${fmtShape(input.shape)} and target shape ${fmtShape(target.shape)} differ`);
  }
}

export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkPair('mseLoss', input, target);
  return reduce('mseLoss', input.sub(target).square(), reduction);
}

export function l1Loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  checkPair('l1Loss', input, target);
  return reduce('l1Loss', input.sub(target).abs(), reduction);
}
