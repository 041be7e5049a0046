import 'reflect-metadata';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { ControlNetModel, CtrLoraBaseControlNet, register as registerControlNet } from '../../plugins/controlnet/index.ts';
import { UNet2DConditionModel, register as registerUNet } from '../../plugins/unet/index.ts';
import { AutoencoderKL, register as registerVAE } from '../../plugins/vae/index.ts';

describe('model plugins register under their tokens', () => {
  it('resolves one instance per container for UNet, VAE and ControlNet', () => {
    const c = container.createChildContainer();
    registerUNet(c, { preset: 'tiny', seed: 1 });
    registerVAE(c, { preset: 'tiny' });
    registerControlNet(c, { kind: 'ctrloraBase', config: 'tiny' });
    const unet = c.resolve(TOKENS.UNet);
    expect(unet).toBeInstanceOf(UNet2DConditionModel);
    expect(c.resolve(TOKENS.UNet)).toBe(unet);
    expect(c.resolve(TOKENS.VAE)).toBeInstanceOf(AutoencoderKL);
    expect(c.resolve(TOKENS.ControlNet)).toBeInstanceOf(CtrLoraBaseControlNet);
    const d = container.createChildContainer();
    registerControlNet(d, { kind: 'vanilla', options: { conditioningEmbeddingChannels: [8, 16] } });
    expect(d.resolve(TOKENS.ControlNet)).toBeInstanceOf(ControlNetModel);
  });
});
