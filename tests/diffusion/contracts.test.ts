import 'reflect-metadata';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import {
  type AdapterProvider, type DiffusionControlNet, type DiffusionScheduler, type DiffusionTextEncoder, type DiffusionUNet, type DiffusionVae,
  type NoiseSchedulerFactory, TOKENS,
} from '../../core/index.ts';
import { ControlNetModel, CtrLoraBaseControlNet, register as registerControlNet } from '../../plugins/controlnet/index.ts';
import { loraAdapterFactory } from '../../plugins/lora/index.ts';
import { createScheduler, register as registerSchedulers, schedulerPlugins } from '../../plugins/schedulers/index.ts';
import { ClipTextModel } from '../../plugins/text-encoder/index.ts';
import { UNet2DConditionModel } from '../../plugins/unet/index.ts';
import { AutoencoderKL } from '../../plugins/vae/index.ts';

describe('the diffusion token contracts (core/plugins/diffusion-types.ts)', () => {
  it('are satisfied by the plugins as they are (checked by tsc) and tell the ControlNet kinds apart', () => {
    const vae: DiffusionVae = new AutoencoderKL('tiny');
    const unet: DiffusionUNet = new UNet2DConditionModel('tiny');
    const text: DiffusionTextEncoder = new ClipTextModel('tiny');
    const nets: DiffusionControlNet[] = [new ControlNetModel('tiny', { conditioningEmbeddingChannels: [8, 16] }), new CtrLoraBaseControlNet('tiny')];
    const adapters: AdapterProvider = loraAdapterFactory;
    const factories: readonly NoiseSchedulerFactory[] = schedulerPlugins;
    const withSchedulers = container.createChildContainer();
    registerSchedulers(withSchedulers);
    const scheduler: DiffusionScheduler = createScheduler(withSchedulers, 'ddim');
    expect(nets.map((n) => n.controlType)).toEqual(['vanilla', 'ctrloraBase']);
    expect(vae.downsampleFactor).toBe(2);
    expect(unet.config.inChannels).toBe(4);
    expect(text.hiddenSize).toBe(32);
    expect(adapters.name).toBe('lora');
    expect(factories.map((f) => f.name)).toEqual(['ddpm', 'ddim', 'euler', 'dpmpp-2m']);
    expect(scheduler.name).toBe('ddim');
  });

  it('types what the container resolves', () => {
    const child = container.createChildContainer();
    registerControlNet(child, { kind: 'ctrloraBase' });
    const cn = child.resolve(TOKENS.ControlNet);
    expect(cn.controlType).toBe('ctrloraBase');
  });
});
