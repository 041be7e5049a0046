/**
 * The ControlNet plugin: diffusers' vanilla ControlNetModel and CtrLoRA's base ControlNet.
 * `registerControlNet(container, { kind: 'ctrloraBase', config: 'tiny' })` puts a factory
 * under TOKENS.ControlNet (one instance per container).
 */
import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../core/plugins/tokens.ts';
import type { UNetConfig, UNetPreset } from '../unet/config.ts';
import type { ModelBuildOptions } from '../unet/unet.ts';
import { type ControlNetOptions, ControlNetModel, CtrLoraBaseControlNet } from './controlnet.ts';

export {
  ControlNetModel, CtrLoraBaseControlNet, ControlNetEncoder, sumControlResiduals, vaeLatents,
  type ControlNetResiduals, type ControlNetForwardOptions, type ControlNetOptions, type ConditionRange,
  type EncodeConditionOptions, type LatentEncoder,
} from './controlnet.ts';
export { ControlNetConditioningEmbedding } from './condition-embedding.ts';
export { zeroConv } from './zero-conv.ts';

export interface ControlNetRegistration {
  kind: 'vanilla' | 'ctrloraBase';
  config?: UNetPreset | Partial<UNetConfig> & { preset?: UNetPreset };
  options?: ControlNetOptions & ModelBuildOptions;
}

export function registerControlNet(container: DependencyContainer, registration: ControlNetRegistration = { kind: 'ctrloraBase' }): void {
  let instance: ControlNetModel | CtrLoraBaseControlNet | null = null;
  const build = () => (registration.kind === 'vanilla' ? new ControlNetModel(registration.config ?? 'tiny', registration.options) : new CtrLoraBaseControlNet(registration.config ?? 'tiny', registration.options));
  container.register(TOKENS.ControlNet, { useFactory: () => (instance ??= build()) });
}
