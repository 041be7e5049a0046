/**
 * The ControlNet plugin: diffusers' vanilla ControlNetModel and CtrLoRA's base ControlNet.
 * `register(container, { kind: 'ctrloraBase', config: 'tiny' })` puts a factory under
 * TOKENS.ControlNet, named by its kind (one instance per container, built on the container's
 * TOKENS.Backend when one is registered).
 */
import { type AnyContainer, checkOptionKeys, provide, resolveOptional } from '../../core/plugins/any-container.ts';
import { PluginError } from '../../core/plugins/container.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import type { UNetConfig, UNetPreset } from '../unet/config.ts';
import { type ControlNetOptions, ControlNetModel, CtrLoraBaseControlNet } from './controlnet.ts';

export {
  ControlNetModel, CtrLoraBaseControlNet, ControlNetEncoder, sumControlResiduals, vaeLatents,
  type ControlNetResiduals, type ControlNetForwardOptions, type ControlNetOptions, type ConditionRange,
  type EncodeConditionOptions, type LatentEncoder,
} from './controlnet.ts';
export { ControlNetConditioningEmbedding } from './condition-embedding.ts';
export { zeroConv } from './zero-conv.ts';

/** JSON options of the ControlNet plugin. */
export interface ControlNetPluginOptions {
  /** Default 'ctrloraBase'. */
  kind?: 'vanilla' | 'ctrloraBase';
  /** A UNet preset name, or UNet config fields over a preset (default 'tiny'). */
  config?: UNetPreset | Partial<UNetConfig> & { preset?: UNetPreset };
  /** seed; vanilla: conditioningChannels, conditioningEmbeddingChannels; ctrloraBase: latentChannels. */
  options?: Omit<ControlNetOptions, 'backend' | 'generator'> & { latentChannels?: number };
}

export function register(container: AnyContainer, options: ControlNetPluginOptions = {}): void {
  checkOptionKeys('plugins/controlnet', options, ['kind', 'config', 'options']);
  const { kind = 'ctrloraBase', config = 'tiny', options: build = {} } = options;
  if (kind !== 'vanilla' && kind !== 'ctrloraBase') throw new PluginError(`plugins/controlnet: kind must be 'vanilla' or 'ctrloraBase', got '${String(kind)}'`);
  provide(container, TOKENS.ControlNet, kind, (c) => {
    const backend = resolveOptional(c, TOKENS.Backend);
    return kind === 'vanilla' ? new ControlNetModel(config, { ...build, backend }) : new CtrLoraBaseControlNet(config, { ...build, backend });
  });
}
