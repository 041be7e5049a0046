import { describe, expect, it, vi } from 'vitest';
import { Generator } from '../../core/index.ts';
import { CtrLoraBaseControlNet } from '../../plugins/controlnet/index.ts';
import { LatentCache, diffusionTrainingStep } from '../../plugins/diffusion/index.ts';
import { syntheticBatch, tinyWorld } from './tiny-world.ts';

const { vae, unet, controlnet, textEncoder, tokenizer, scheduler } = tinyWorld();
const { images, conditions, prompts } = syntheticBatch(3, 7, 8);

describe('LatentCache', () => {
  it('draws what encodeCondition draws, encoding each sample once', () => {
    const cache = new LatentCache(vae);
    const encode = vi.spyOn(vae, 'encode');
    const cached = cache.latents(['a', 'b', 'c'], conditions, new Generator(4));
    const direct = CtrLoraBaseControlNet.encodeCondition(vae, conditions, { generator: new Generator(4) });
    expect(cached.sub(direct).abs().max().item()).toBeLessThan(1e-6);
    expect(cache.size).toBe(3);
    // Rows b and a again, plus a new d: only d is encoded; fresh noise each call, the mean without a generator.
    const again = cache.latents(['b', 'a', 'd'], conditions, new Generator(5));
    expect(encode).toHaveBeenCalledTimes(3); // encodeCondition above counts once
    expect(encode.mock.calls[2]![0].shape).toEqual([1, 3, 8, 8]);
    expect(again.shape).toEqual([3, 4, 4, 4]);
    const mean = cache.latents(['b'], conditions.slice(0, 1, 2));
    const direct1 = CtrLoraBaseControlNet.encodeCondition(vae, conditions.slice(0, 1, 2), { posterior: 'mode' });
    expect(mean.sub(direct1).abs().max().item()).toBeLessThan(1e-6);
    encode.mockRestore();
    expect(() => cache.latents(['x'], conditions)).toThrow(/1 keys for images of shape \[3, 3, 8, 8\]/);
  });

  it('feeds the training step: target latents (minusOneOne) and condition latents from caches equal the uncached step', () => {
    const targets = new LatentCache(vae, { range: 'minusOneOne' });
    const conds = new LatentCache(vae);
    const keys = ['x', 'y', 'z'];
    const g = new Generator(42);
    const batch = { latents: targets.latents(keys, images, g), conditionLatents: conds.latents(keys, conditions, g), prompts };
    const models = { vae, unet, controlnet, textEncoder, tokenizer, scheduler };
    const cached = diffusionTrainingStep(models, batch, { generator: g }).loss.item();
    const plain = diffusionTrainingStep(models, { images, conditions, prompts }, { generator: new Generator(42) }).loss.item();
    expect(Math.abs(cached - plain)).toBeLessThan(1e-5);
  });
});
