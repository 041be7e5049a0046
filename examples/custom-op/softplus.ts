/**
 * A custom op from outside core/: softplus (torch.nn.functional.softplus, with beta and
 * threshold) with a host kernel for the reference and native backends, a gpu.js kernel, and
 * its gradient rule. docs/custom-ops.md walks through it; tests/core/custom-ops.test.ts and
 * tests/gpu/custom-ops.property.test.ts test it on every backend.
 */
import { type HostKernelArgs, type Tensor, ArgumentError, defineOp, where } from 'ctrlora-ts';

export interface SoftplusAttrs {
  beta: number;
  threshold: number;
}

/** log(1 + e^(beta x)) / beta, written to stay finite: max(z, 0) + log1p(e^-|z|). */
function softplusHost({ inputs: [x], out, attrs: { beta, threshold } }: HostKernelArgs<SoftplusAttrs>): void {
  for (let i = 0; i < out.length; i++) {
    const z = beta * x![i]!;
    out[i] = z > threshold ? x![i]! : (Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)))) / beta;
  }
}

const softplusOp = defineOp<SoftplusAttrs>({
  name: 'softplus',
  arity: 1,
  kernels: {
    reference: softplusHost,
    native: softplusHost,
    // beta and threshold are scalars (arguments): a new value does not recompile the kernel.
    gpujs: ({ attrs }) => ({
      source: `function (x, beta, threshold) {
        let v = x[this.thread.x];
        let z = beta * v;
        if (z > threshold) { return v; }
        return (Math.max(z, 0) + Math.log(1 + Math.exp(-Math.abs(z)))) / beta;
      }`,
      scalars: [attrs.beta, attrs.threshold],
    }),
  },
  // d/dx = sigmoid(beta x), and 1 where the op is the identity; composed from built-in ops.
  grad: (gy, { inputs: [x], attrs: { beta, threshold } }) => {
    const z = x!.mul(beta);
    return [gy.mul(where(z.gt(threshold), 1, z.sigmoid()))];
  },
});

export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  if (!(beta > 0) || !Number.isFinite(beta)) throw new ArgumentError(`softplus: beta must be a finite number > 0, got ${beta}`);
  if (!Number.isFinite(threshold)) throw new ArgumentError(`softplus: threshold must be finite, got ${threshold}`);
  return softplusOp([x], { beta, threshold });
}
