/**
 * The VAE plugin: diffusers' AutoencoderKL with `sd15` and `tiny` presets.
 * `registerVAE(container, 'tiny')` puts a factory under TOKENS.VAE (one instance per container).
 */
import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../core/plugins/tokens.ts';
import type { ModelBuildOptions } from '../unet/unet.ts';
import { AutoencoderKL } from './autoencoder.ts';
import type { VaeConfig, VaePreset } from './config.ts';

export { AutoencoderKL, Encoder, Decoder, VaeMidBlock, VaeLevel, type VaeLoss, type VaeLossOptions } from './autoencoder.ts';
export { DiagonalGaussianDistribution } from './distribution.ts';
export { SpatialSelfAttention } from './attention.ts';
export { VAE_SD15, VAE_TINY, VAE_PRESETS, resolveVaeConfig, type VaeConfig, type VaePreset } from './config.ts';

export function registerVAE(container: DependencyContainer, config: VaePreset | Partial<VaeConfig> & { preset?: VaePreset } = 'tiny', options: ModelBuildOptions = {}): void {
  let instance: AutoencoderKL | null = null;
  container.register(TOKENS.VAE, { useFactory: () => (instance ??= new AutoencoderKL(config, options)) });
}
