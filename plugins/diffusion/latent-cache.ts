/**
 * A per-sample cache of VAE posteriors, so a frozen VAE encodes each image once per run.
 * It keeps the posterior's mean and std (not one sample), so every later call can still draw
 * a fresh posterior sample from the run's generator, as CtrLoRA's training (which re-encodes
 * and re-samples each step) does, at the cost of one randn instead of an encoder pass.
 */
import { ArgumentError, type DiffusionVae, type Generator, ShapeError, type Tensor, concat, noGrad, randn } from '../../core/index.ts';
import { fmtShape } from '../../core/errors.ts';

/** A posterior that exposes its moments (the VAE plugin's DiagonalGaussianDistribution does). */
interface GaussianPosterior {
  readonly mean: Tensor;
  readonly std: Tensor;
}

export interface LatentCacheOptions {
  /**
   * How pixels in [0, 1] reach the VAE: 'zeroOne' as they are (CtrLoRA's conditions),
   * 'minusOneOne' mapped to [-1, 1] (targets). Default 'zeroOne'.
   */
  range?: 'zeroOne' | 'minusOneOne';
}

export class LatentCache {
  private readonly entries = new Map<string, { mean: Tensor; std: Tensor }>();

  constructor(readonly vae: DiffusionVae, readonly options: LatentCacheOptions = {}) {}

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  /**
   * Scaled latents [N, C, h, w] for the samples `keys` (one key per row of `images`):
   * mean + std * eps with one randn over the whole batch from `generator` (as a posterior's
   * sample() over the batch draws), or the mean when no generator is given. Rows whose key is
   * cached are not encoded again.
   */
  latents(keys: readonly string[], images: Tensor, generator?: Generator): Tensor {
    if (images.ndim !== 4 || images.shape[0] !== keys.length) {
      throw new ShapeError(`LatentCache.latents: ${keys.length} keys for images of shape ${fmtShape(images.shape)} (need one key per row)`);
    }
    return noGrad(() => {
      const missing = keys.map((k, i) => [k, i] as const).filter(([k]) => !this.entries.has(k));
      if (missing.length) {
        const rows = concat(missing.map(([, i]) => images.slice(0, i, i + 1)), 0);
        const posterior = this.vae.encode((this.options.range ?? 'zeroOne') === 'zeroOne' ? rows : rows.mul(2).sub(1)) as unknown as Partial<GaussianPosterior>;
        if (!posterior.mean || !posterior.std) throw new ArgumentError('LatentCache: the VAE posterior has no mean/std to cache');
        // Entries outlive the step: kept, so a backend's tidy() around the step does not release them.
        const kept = (t: Tensor) => {
          const c = t.contiguous().detach();
          c.backend.keep?.(c.storage);
          return c;
        };
        missing.forEach(([k], j) => this.entries.set(k, { mean: kept(posterior.mean!.slice(0, j, j + 1)), std: kept(posterior.std!.slice(0, j, j + 1)) }));
      }
      const mean = concat(keys.map((k) => this.entries.get(k)!.mean), 0);
      const z = generator ? mean.add(concat(keys.map((k) => this.entries.get(k)!.std), 0).mul(randn(mean.shape, { generator, backend: mean.backend }))) : mean;
      return z.mul(this.vae.scalingFactor);
    });
  }
}
