/**
 * The UNet plugin: diffusers' UNet2DConditionModel with `sd15` and `tiny` presets.
 * `register(container, { preset: 'tiny', seed: 1 })` puts a factory under TOKENS.UNet as 'unet'
 * (one instance per container, built on the container's TOKENS.Backend when one is registered).
 */
import { type AnyContainer, checkOptionKeys, provide, resolveOptional } from '../../core/plugins/any-container.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { type UNetConfig, type UNetPreset } from './config.ts';
import { type ModelBuildOptions, UNet2DConditionModel } from './unet.ts';

export { UNet2DConditionModel, skipChannels, type UNetForwardOptions, type ModelBuildOptions } from './unet.ts';
export { UNET_SD15, UNET_TINY, UNET_PRESETS, resolveUNetConfig, type UNetConfig, type UNetPreset, type DownBlockType, type UpBlockType } from './config.ts';
export { ResnetBlock2D, Downsample2D, Upsample2D } from './resnet.ts';
export { Transformer2DModel, BasicTransformerBlock, FeedForward, GEGLU } from './transformer.ts';
export { DownBlock, MidBlock, UpBlock } from './blocks.ts';
export { TimestepEmbedding, timestepSinusoids } from './embeddings.ts';

/** JSON options of the UNet plugin. */
export interface UNetPluginOptions {
  /** Default 'tiny'. */
  preset?: UNetPreset;
  /** Fields over the preset's. */
  config?: Partial<UNetConfig>;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

export function register(container: AnyContainer, options: UNetPluginOptions = {}): void {
  checkOptionKeys('plugins/unet', options, ['preset', 'config', 'seed']);
  const { preset = 'tiny', config = {}, seed } = options;
  provide(container, TOKENS.UNet, 'unet', (c) => new UNet2DConditionModel({ ...config, preset }, { seed, backend: resolveOptional(c, TOKENS.Backend) }));
}
