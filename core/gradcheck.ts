/**
 * Finite-difference gradient checking, like torch.autograd.gradcheck: compares the tape's
 * gradient of sum(f(inputs) * w), for a random weighting w, with central differences.
 * Run it on `new ReferenceBackend({ precision: 'float64' })` so rounding does not hide bugs.
 */
import { noGrad } from './autograd.ts';
import type { Backend } from './backend.ts';
import { TensorError } from './errors.ts';
import { randn, tensor } from './ops/creation.ts';
import { Generator } from './random.ts';
import type { Tensor } from './tensor.ts';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

export interface GradcheckMismatch {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
}

/** Returns null when every gradient matches, else the worst mismatch. */
export function gradcheck(
  fn: (...xs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradcheckOptions = {},
): GradcheckMismatch | null {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-4, seed = 0 } = options;
  const backend: Backend = inputs[0]!.backend;
  const leaves = inputs.map((x) => tensor(x.toFloat64Array(), x.shape, { backend, requiresGrad: true }));
  const out = fn(...leaves);
  const weights = randn(out.shape, { backend, generator: new Generator(seed) });
  out.mul(weights).sum().backward();

  const w = weights.toFloat64Array();
  const evaluate = (values: Float64Array[]): number =>
    noGrad(() => {
      const y = fn(...values.map((v, i) => tensor(v, inputs[i]!.shape, { backend }))).toFloat64Array();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i]! * w[i]!;
      return s;
    });

  const base = leaves.map((x) => x.toFloat64Array());
  let worst: GradcheckMismatch | null = null;
  let worstExcess = 0;
  leaves.forEach((leaf, i) => {
    const analytic = leaf.grad ? leaf.grad.toFloat64Array() : new Float64Array(leaf.size);
    for (let j = 0; j < leaf.size; j++) {
      const plus = base.map((b) => b.slice());
      const minus = base.map((b) => b.slice());
      plus[i]![j]! += eps;
      minus[i]![j]! -= eps;
      const numeric = (evaluate(plus) - evaluate(minus)) / (2 * eps);
      const excess = Math.abs(analytic[j]! - numeric) - (atol + rtol * Math.abs(numeric));
      if (!(excess <= worstExcess)) {
        worstExcess = Number.isNaN(excess) ? Infinity : excess;
        worst = { input: i, index: j, analytic: analytic[j]!, numeric };
      }
    }
  });
  return worst;
}

/** gradcheck that throws a readable error (for tests). */
export function assertGradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], options?: GradcheckOptions): void {
  const bad = gradcheck(fn, inputs, options);
  if (bad) {
    throw new TensorError(
      `gradcheck: input ${bad.input} element ${bad.index}: analytic ${bad.analytic} vs numeric ${bad.numeric}`,
    );
  }
}
