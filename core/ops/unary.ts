/**
 * Elementwise unary ops. Each is one kernel (backend.unary) with one gradient kernel
 * (backend.unaryGrad: gy * f'(x)); the formulas live in core/math.ts.
 */
import { attach } from '../autograd.ts';
import type { UnaryOp } from '../backend.ts';
import { ArgumentError } from '../errors.ts';
import { erf as erfScalar } from '../math.ts';
import { Tensor } from '../tensor.ts';
import { type HostKernelArgs, defineOp } from './custom.ts';
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

/**
 * erf as a tensor op, on the custom-op registry (host kernel: core/math.ts's float64 series;
 * gpu.js: Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7). d/dx erf = 2/sqrt(pi) e^(-x^2).
 */
const erfOp = defineOp<Record<string, never>>({
  name: 'erf',
  arity: 1,
  kernels: {
    reference: erfHost,
    native: erfHost,
    gpujs: () => ({
      source: `function (a) {
        let z = a[this.thread.x];
        let az = Math.abs(z);
        let t = 1 / (1 + 0.3275911 * az);
        let p = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
        let v = 1 - p * Math.exp(-az * az);
        if (z < 0) { v = -v; }
        return v;
      }`,
    }),
  },
  grad: (gy, { inputs: [x] }) => [gy.mul(x!.square().neg().exp().mul(2 / Math.sqrt(Math.PI)))],
});

function erfHost({ inputs: [x], out }: HostKernelArgs<Record<string, never>>): void {
  for (let i = 0; i < out.length; i++) out[i] = erfScalar(x![i]!);
}

/** The error function: elementwise on a tensor (torch.erf), or of one number (math.erf). */
export function erf(x: Tensor): Tensor;
export function erf(x: number): number;
export function erf(x: Tensor | number): Tensor | number {
  if (typeof x === 'number') return erfScalar(x);
  if (!(x instanceof Tensor)) throw new ArgumentError(`erf: expected a Tensor or a number, got ${x === null ? 'null' : typeof x}`);
  return erfOp([x], {});
}
