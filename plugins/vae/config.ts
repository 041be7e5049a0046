/** AutoencoderKL configuration (diffusers' vae/config.json, camelCased) and presets. */
import { ArgumentError } from '../../core/index.ts';
import { mergePreset } from '../unet/config.ts';

export interface VaeConfig {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  /** Encoder widths per level; the decoder mirrors them. Downsampling = 2^(levels - 1). */
  blockOutChannels: readonly number[];
  layersPerBlock: number;
  normNumGroups: number;
  normEps: number;
  /** Latents are multiplied by this before diffusion (SD1.5: 0.18215, unit variance). */
  scalingFactor: number;
}

/** Stable Diffusion 1.5's VAE (runwayml/stable-diffusion-v1-5 vae/config.json). */
export const VAE_SD15: VaeConfig = Object.freeze<VaeConfig>({
  inChannels: 3,
  outChannels: 3,
  latentChannels: 4,
  blockOutChannels: [128, 256, 512, 512],
  layersPerBlock: 2,
  normNumGroups: 32,
  normEps: 1e-6,
  scalingFactor: 0.18215,
});

/** A small VAE with SD1.5's structure for CPU tests (2 levels: latents at half the side). */
export const VAE_TINY: VaeConfig = Object.freeze<VaeConfig>({
  inChannels: 3,
  outChannels: 3,
  latentChannels: 4,
  blockOutChannels: [16, 32],
  layersPerBlock: 1,
  normNumGroups: 8,
  normEps: 1e-6,
  scalingFactor: 0.18215,
});

export const VAE_PRESETS = { sd15: VAE_SD15, tiny: VAE_TINY } as const;
export type VaePreset = keyof typeof VAE_PRESETS;

export function resolveVaeConfig(config: VaePreset | Partial<VaeConfig> & { preset?: VaePreset } = 'tiny'): VaeConfig {
  const c = mergePreset('VAE', VAE_PRESETS, config);
  if (typeof config === 'string') return c;
  for (const ch of c.blockOutChannels) {
    if (ch % c.normNumGroups) throw new ArgumentError(`VAE config: normNumGroups ${c.normNumGroups} must divide every block width (got ${ch})`);
  }
  return c;
}
