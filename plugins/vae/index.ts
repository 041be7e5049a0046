/**
 * The VAE plugin: diffusers' AutoencoderKL with `sd15` and `tiny` presets.
 * `register(container, { preset: 'tiny' })` puts a factory under TOKENS.VAE as 'vae'
 * (one instance per container, built on the container's TOKENS.Backend when one is registered).
 */
import { type AnyContainer, checkOptionKeys, provide, resolveOptional } from '../../core/plugins/any-container.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { AutoencoderKL } from './autoencoder.ts';
import type { VaeConfig, VaePreset } from './config.ts';

export { AutoencoderKL, Encoder, Decoder, VaeMidBlock, VaeLevel, type VaeLoss, type VaeLossOptions } from './autoencoder.ts';
export { DiagonalGaussianDistribution } from './distribution.ts';
export { SpatialSelfAttention } from './attention.ts';
export { VAE_SD15, VAE_TINY, VAE_PRESETS, resolveVaeConfig, type VaeConfig, type VaePreset } from './config.ts';

/** JSON options of the VAE plugin. */
export interface VaePluginOptions {
  /** Default 'tiny'. */
  preset?: VaePreset;
  /** Fields over the preset's. */
  config?: Partial<VaeConfig>;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

export function register(container: AnyContainer, options: VaePluginOptions = {}): void {
  checkOptionKeys('plugins/vae', options, ['preset', 'config', 'seed']);
  const { preset = 'tiny', config = {}, seed } = options;
  provide(container, TOKENS.VAE, 'vae', (c) => new AutoencoderKL({ ...config, preset }, { seed, backend: resolveOptional(c, TOKENS.Backend) }));
}
