/** UNet2DConditionModel configuration (diffusers' config.json fields, camelCased) and presets. */
import { ArgumentError } from '../../core/index.ts';

export type DownBlockType = 'CrossAttnDownBlock2D' | 'DownBlock2D';
export type UpBlockType = 'UpBlock2D' | 'CrossAttnUpBlock2D';

export interface UNetConfig {
  inChannels: number;
  outChannels: number;
  blockOutChannels: readonly number[];
  downBlockTypes: readonly DownBlockType[];
  upBlockTypes: readonly UpBlockType[];
  layersPerBlock: number;
  normNumGroups: number;
  normEps: number;
  crossAttentionDim: number;
  /** Attention heads per block (diffusers' SD1.5 config calls this attention_head_dim: 8). */
  attentionHeads: number | readonly number[];
  transformerLayersPerBlock: number;
  flipSinToCos: boolean;
  freqShift: number;
  /** Latent side the model is meant for (informational, as in diffusers). */
  sampleSize: number;
}

/** Stable Diffusion 1.5's UNet (runwayml/stable-diffusion-v1-5 unet/config.json). */
export const UNET_SD15: UNetConfig = Object.freeze<UNetConfig>({
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [320, 640, 1280, 1280],
  downBlockTypes: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  layersPerBlock: 2,
  normNumGroups: 32,
  normEps: 1e-5,
  crossAttentionDim: 768,
  attentionHeads: 8,
  transformerLayersPerBlock: 1,
  flipSinToCos: true,
  freqShift: 0,
  sampleSize: 64,
});

/** A small UNet with SD1.5's structure for CPU tests and examples (2 levels, 32/64 channels). */
export const UNET_TINY: UNetConfig = Object.freeze<UNetConfig>({
  inChannels: 4,
  outChannels: 4,
  blockOutChannels: [32, 64],
  downBlockTypes: ['CrossAttnDownBlock2D', 'DownBlock2D'],
  upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D'],
  layersPerBlock: 1,
  normNumGroups: 8,
  normEps: 1e-5,
  crossAttentionDim: 32,
  attentionHeads: 2,
  transformerLayersPerBlock: 1,
  flipSinToCos: true,
  freqShift: 0,
  sampleSize: 8,
});

export const UNET_PRESETS = { sd15: UNET_SD15, tiny: UNET_TINY } as const;
export type UNetPreset = keyof typeof UNET_PRESETS;

/**
 * A preset name, or overrides over a preset (`preset`, default 'tiny') -> the full config.
 * An unknown preset name is an error in both forms (spreading a missing preset would leave
 * fields undefined and fail far from here).
 */
export function mergePreset<C extends object, P extends string>(model: string, presets: Readonly<Record<P, C>>, config: P | Partial<C> & { preset?: P }): C {
  const name = typeof config === 'string' ? config : config.preset ?? ('tiny' as P);
  const base = Object.hasOwn(presets, name) ? presets[name] : undefined;
  if (!base) throw new ArgumentError(`${model}: unknown preset '${String(name)}' (known: ${Object.keys(presets).join(', ')})`);
  if (typeof config === 'string') return base;
  const { preset: _preset, ...rest } = config;
  return { ...base, ...rest } as C;
}

export function resolveUNetConfig(config: UNetPreset | Partial<UNetConfig> & { preset?: UNetPreset } = 'tiny'): UNetConfig {
  const c = mergePreset('UNet', UNET_PRESETS, config);
  if (typeof config === 'string') return c;
  const n = c.blockOutChannels.length;
  if (c.downBlockTypes.length !== n || c.upBlockTypes.length !== n) {
    throw new ArgumentError(`UNet config: blockOutChannels (${n}), downBlockTypes (${c.downBlockTypes.length}) and upBlockTypes (${c.upBlockTypes.length}) must have the same length`);
  }
  if (Array.isArray(c.attentionHeads) && c.attentionHeads.length !== n) {
    throw new ArgumentError(`UNet config: attentionHeads has ${c.attentionHeads.length} entries for ${n} blocks`);
  }
  for (const ch of c.blockOutChannels) {
    if (ch % c.normNumGroups) throw new ArgumentError(`UNet config: normNumGroups ${c.normNumGroups} must divide every block width (got ${ch})`);
  }
  return c;
}

/** Heads of block i (a single number applies to all). */
export function headsAt(config: UNetConfig, i: number): number {
  return typeof config.attentionHeads === 'number' ? config.attentionHeads : config.attentionHeads[i]!;
}
