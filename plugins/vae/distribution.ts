/**
 * The VAE posterior: a diagonal Gaussian whose mean and log-variance are the two halves
 * (on channels) of the encoder's moments, log-variance clamped to [-30, 20] as diffusers.
 */
import { type Generator, type Tensor, chunk, randn } from '../../core/index.ts';

export class DiagonalGaussianDistribution {
  readonly mean: Tensor;
  readonly logvar: Tensor;
  readonly std: Tensor;
  readonly var: Tensor;
  constructor(readonly parameters: Tensor) {
    const [mean, logvar] = chunk(parameters, 2, 1) as [Tensor, Tensor];
    this.mean = mean;
    this.logvar = logvar.clamp(-30, 20);
    this.std = this.logvar.mul(0.5).exp();
    this.var = this.logvar.exp();
  }
  /** mean + std * eps with eps ~ N(0, 1) from `generator` (reparameterised: gradients flow). */
  sample(generator?: Generator): Tensor {
    const eps = randn(this.mean.shape, { generator, backend: this.mean.backend });
    return this.mean.add(this.std.mul(eps));
  }
  mode(): Tensor {
    return this.mean;
  }
  /** KL(q || N(0, I)) per batch item, summed over channels and pixels: [N]. */
  kl(): Tensor {
    return this.mean.square().add(this.var).sub(1).sub(this.logvar).sum([1, 2, 3]).mul(0.5);
  }
}
