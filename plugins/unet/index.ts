/**
 * The UNet plugin: diffusers' UNet2DConditionModel with `sd15` and `tiny` presets.
 * `registerUNet(container, 'tiny')` puts a factory under TOKENS.UNet (one instance per container).
 */
import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { type UNetConfig, type UNetPreset } from './config.ts';
import { type ModelBuildOptions, UNet2DConditionModel } from './unet.ts';

export { UNet2DConditionModel, skipChannels, type UNetForwardOptions, type ModelBuildOptions } from './unet.ts';
export { UNET_SD15, UNET_TINY, UNET_PRESETS, resolveUNetConfig, type UNetConfig, type UNetPreset, type DownBlockType, type UpBlockType } from './config.ts';
export { ResnetBlock2D, Downsample2D, Upsample2D } from './resnet.ts';
export { Transformer2DModel, BasicTransformerBlock, FeedForward, GEGLU } from './transformer.ts';
export { DownBlock, MidBlock, UpBlock } from './blocks.ts';
export { TimestepEmbedding, timestepSinusoids } from './embeddings.ts';

export function registerUNet(container: DependencyContainer, config: UNetPreset | Partial<UNetConfig> & { preset?: UNetPreset } = 'tiny', options: ModelBuildOptions = {}): void {
  let instance: UNet2DConditionModel | null = null;
  container.register(TOKENS.UNet, { useFactory: () => (instance ??= new UNet2DConditionModel(config, options)) });
}
