/**
 * Elementwise unary ops. Each is one kernel (backend.unary) with one gradient kernel
 * (backend.unaryGrad: gy * f'(x)); the formulas live in core/math.ts.
 */
import { attach } from '../autograd.ts';
import type { UnaryOp } from '../backend.ts';
import { ArgumentError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { dense, wrap } from './util.ts';

function unaryOp(op: UnaryOp, x: Tensor): Tensor {
  const xs = dense(x);
  const out = wrap(x.backend.unary(op, xs), x.shape);
  return attach(out, op, [x], (gy) => [wrap(x.backend.unaryGrad(op, xs, dense(gy)), x.shape)]);
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x);
export const exp = (x: Tensor): Tensor => unaryOp('exp', x);
export const log = (x: Tensor): Tensor => unaryOp('log', x);
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', x);
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x);
export const silu = (x: Tensor): Tensor => unaryOp('silu', x);
export const relu = (x: Tensor): Tensor => unaryOp('relu', x);
export const abs = (x: Tensor): Tensor => unaryOp('abs', x);
export const sin = (x: Tensor): Tensor => unaryOp('sin', x);
export const cos = (x: Tensor): Tensor => unaryOp('cos', x);
export const square = (x: Tensor): Tensor => unaryOp('square', x);
export const sign = (x: Tensor): Tensor => unaryOp('sign', x);

/** GELU, exact (erf) by default or with the tanh approximation, as torch's `approximate`. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  if (approximate !== 'none' && approximate !== 'tanh') {
    throw new ArgumentError(`gelu: approximate must be 'none' or 'tanh', got '${String(approximate)}'`);
  }
  return unaryOp(approximate === 'none' ? 'gelu' : 'gelu_tanh', x);
}
