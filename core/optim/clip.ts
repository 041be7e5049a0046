/** Gradient norms and clipping by global norm (torch.nn.utils.clip_grad_norm_). */
import { noGrad } from '../autograd.ts';
import { ArgumentError, TensorError } from '../errors.ts';
import type { Tensor } from '../tensor.ts';

/**
 * The global norm of all gradients (2-norm by default, or the max-abs norm). The per-parameter
 * norms are combined on the gradients' backend, so a GPU step reads back one number, not one
 * per parameter.
 */
export function gradNorm(params: Iterable<Tensor>, normType: 2 | 'inf' = 2): number {
  return noGrad(() => {
    let acc: Tensor | null = null;
    for (const p of params) {
      if (!p.grad) continue;
      const part = normType === 'inf' ? p.grad.abs().max() : p.grad.square().sum();
      acc = acc === null ? part : normType === 'inf' ? acc.maximum(part) : acc.add(part);
    }
    if (acc === null) return 0;
    return normType === 'inf' ? acc.item() : Math.sqrt(acc.item());
  });
}

export interface ClipOptions {
  normType?: 2 | 'inf';
  /** Throw when the norm is NaN or infinite instead of scaling by it. Default false (like torch). */
  errorIfNonfinite?: boolean;
}

/** Scales all gradients so their global norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, options: ClipOptions = {}): number {
  if (!(maxNorm > 0)) throw new ArgumentError(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const list = [...params];
  const total = gradNorm(list, options.normType ?? 2);
  if (!Number.isFinite(total) && options.errorIfNonfinite) {
    throw new TensorError(`clipGradNorm: the total gradient norm is ${total}; the gradients cannot be clipped`);
  }
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1) noGrad(() => list.forEach((p) => { if (p.grad) p.grad = p.grad.mul(coef); }));
  return total;
}
