import 'reflect-metadata';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { Generator, type SampleRequest, TOKENS, type Tensor, init, noGrad, tensor } from '../../core/index.ts';
import { register as registerControlNet } from '../../plugins/controlnet/index.ts';
import { DiffusionPipeline, ctrloraConditionSwitch, gridRgb8, register as registerDiffusionPipeline, writeGrid, writePngs } from '../../plugins/diffusion/index.ts';
import { LoraModel } from '../../plugins/lora/index.ts';
import { register as registerSchedulers, schedulerPlugins } from '../../plugins/schedulers/index.ts';
import { register as registerTextEncoderPlugin } from '../../plugins/text-encoder/index.ts';
import { register as registerUNet } from '../../plugins/unet/index.ts';
import { register as registerVAE } from '../../plugins/vae/index.ts';
import { PROMPTS, syntheticBatch, tinyWorld } from './tiny-world.ts';

const SD_BETAS = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 };
const { vae, unet, controlnet, textEncoder, tokenizer } = tinyWorld();
// Zero convs with values, so the ControlNet changes the output.
noGrad(() => {
  for (const m of [...controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]) init.normal_(m.weight, 0, 0.2, { seed: 11 });
});
const models = { vae, unet, textEncoder, tokenizer, schedulers: schedulerPlugins };
const pipe = new DiffusionPipeline({ ...models, controlnet }, { schedulerConfig: SD_BETAS });
const plain = new DiffusionPipeline(models, { schedulerConfig: SD_BETAS });
const { conditions } = syntheticBatch(2, 7, 8);
const cond = conditions.slice(0, 0, 1);
const base: SampleRequest = { prompt: 'a lit molar', count: 2, conditions: [{ image: cond }], steps: 3, seed: 5, guidanceScale: 3 };
const values = (t: Tensor) => Array.from(t.toArray());
const maxDiff = (a: Tensor, b: Tensor) => a.sub(b).abs().max().item();

describe('DiffusionPipeline', () => {
  const first = pipe.sample(base);

  it('returns [N, 3, H, W] images in [0, 1], deterministic for a seed, different for another', () => {
    expect(first.images.shape).toEqual([2, 3, 8, 8]);
    expect(first.latents.shape).toEqual([2, 4, 4, 4]);
    expect(first.images.min().item()).toBeGreaterThanOrEqual(0);
    expect(first.images.max().item()).toBeLessThanOrEqual(1);
    expect(first.timesteps).toHaveLength(3);
    expect(values(pipe.sample(base).images)).toEqual(values(first.images));
    expect(maxDiff(pipe.sample({ ...base, seed: 6 }).latents, first.latents)).toBeGreaterThan(1e-3);
    // every scheduler runs, and DDPM's ancestral noise is seeded too
    for (const scheduler of ['ddpm', 'euler', 'dpmpp-2m']) {
      const a = pipe.sample({ ...base, scheduler, steps: 2 });
      expect(values(a.images), scheduler).toEqual(values(pipe.sample({ ...base, scheduler, steps: 2 }).images));
    }
  });

  it('guidance scale 1 is the conditional branch alone; CFG mixes in the negative prompt', () => {
    const g1 = pipe.sample({ ...base, guidanceScale: 1 });
    expect(values(pipe.sample({ ...base, guidanceScale: 1, negativePrompt: 'a shaded incisor' }).latents)).toEqual(values(g1.latents));
    // With negative prompt = prompt, eps_u = eps_c and any scale gives the conditional branch.
    expect(values(pipe.sample({ ...base, guidanceScale: 7, negativePrompt: 'a lit molar' }).latents)).toEqual(values(g1.latents));
    expect(maxDiff(first.latents, g1.latents)).toBeGreaterThan(1e-4);
    expect(maxDiff(pipe.sample({ ...base, negativePrompt: 'a shaded incisor' }).latents, first.latents)).toBeGreaterThan(1e-4);
  });

  it('control strength 0 is the UNet without ControlNet; the strength scales the control', () => {
    const off = pipe.sample({ ...base, controlStrength: 0 });
    const { conditions: _, ...noControl } = base;
    expect(values(off.latents)).toEqual(values(plain.sample({ ...noControl, width: 8, height: 8 }).latents));
    expect(maxDiff(off.latents, first.latents)).toBeGreaterThan(1e-3);
    const half = pipe.sample({ ...base, controlStrength: 0.5 });
    expect(maxDiff(half.latents, first.latents)).toBeGreaterThan(1e-4);
    expect(maxDiff(half.latents, off.latents)).toBeGreaterThan(1e-4);
  });

  it('sums several conditions with their weights, calling each activate hook before its pass', () => {
    const latent = noGrad(() => vae.encode(cond).sample(new Generator(3)).mul(vae.scalingFactor));
    let calls = 0;
    const activate = () => void calls++;
    const twice = pipe.sample({ ...base, conditions: [{ image: cond, latent, activate }, { image: cond, latent, activate }] });
    expect(calls).toBe(3 * 2 * 2); // steps x (cond, uncond) x conditions
    const doubled = pipe.sample({ ...base, conditions: [{ image: cond, latent, weight: 2 }] });
    expect(values(twice.latents)).toEqual(values(doubled.latents));
    calls = 0;
    const once = pipe.sample({ ...base, conditions: [{ image: cond, latent, activate }] });
    expect(calls).toBe(1); // a single condition's set stays in place for the whole run
    expect(maxDiff(once.latents, twice.latents)).toBeGreaterThan(1e-4);
  });

  it("ctrloraConditionSwitch puts a condition's LoRA, zero convs and norms back before its pass", () => {
    const lora = new LoraModel(controlnet);
    lora.addAdapter('a', { rank: 2, targetModules: ['to_q', 'to_v'], seed: 1 });
    const onlyA = pipe.sample(base);
    const switchA = ctrloraConditionSwitch(lora, controlnet, 'a');
    // Condition b trains its own adapter and zero convs (here: new values) in the same base.
    lora.addAdapter('b', { rank: 2, targetModules: ['to_q', 'to_v'], seed: 2 });
    noGrad(() => {
      init.normal_(controlnet.controlnet_mid_block.weight, 0, 0.3, { seed: 12 });
      for (const p of lora.adapterParameters('b')) init.normal_(p, 0, 0.3, { seed: 13 });
    });
    const switchB = ctrloraConditionSwitch(lora, controlnet, 'b');
    switchB();
    const asB = pipe.sample(base);
    expect(maxDiff(asB.latents, onlyA.latents)).toBeGreaterThan(1e-4);
    const withSwitch = pipe.sample({ ...base, conditions: [{ image: cond, activate: switchA }] });
    expect(values(withSwitch.latents)).toEqual(values(onlyA.latents));
    lora.deleteAdapter('a');
    lora.deleteAdapter('b');
  });

  it('schedulerOverrides gives one scheduler kind its own options (SD1.5 DDIM) while the others keep working', () => {
    const sd15 = new DiffusionPipeline(models, { schedulerConfig: SD_BETAS, schedulerOverrides: { ddim: { clipSample: false, setAlphaToOne: false, stepsOffset: 1 } } });
    const { conditions: _, ...noControl } = base;
    const request = { ...noControl, width: 8, height: 8 };
    const ddim = sd15.sample(request);
    expect(ddim.timesteps).toEqual([667, 334, 1]);
    expect(plain.sample(request).timesteps).toEqual([666, 333, 0]);
    expect(sd15.sample({ ...request, scheduler: 'euler' }).timesteps).toHaveLength(3);
    // the same options for every kind would reach Euler, which has no setAlphaToOne
    const shared = new DiffusionPipeline(models, { schedulerConfig: { ...SD_BETAS, setAlphaToOne: false } });
    expect(() => shared.sample({ ...request, scheduler: 'euler' })).toThrow(/euler: unknown option 'setAlphaToOne'/);
  });

  it('refuses bad sizes and unknown schedulers with clear errors', () => {
    expect(() => pipe.sample({ ...base, scheduler: 'heun' })).toThrow(/no scheduler named 'heun'/);
    expect(() => pipe.sample({ ...base, conditions: [], width: 7 })).toThrow(/multiples of the VAE's factor 2/);
    expect(() => pipe.sample({ ...base, width: 16, height: 16 })).toThrow(/conditions\[0\]\.image must be/);
    expect(() => plain.sample(base)).toThrow(/no ControlNet/);
  });

  it('is registered under TOKENS.Sampler from the container\'s plugins', () => {
    const c = container.createChildContainer();
    registerVAE(c, { preset: 'tiny', seed: 1 });
    registerUNet(c, { preset: 'tiny', seed: 2 });
    registerTextEncoderPlugin(c, { overrides: { vocabSize: tokenizer.vocabSize }, seed: 3 });
    registerControlNet(c, { kind: 'ctrloraBase' });
    registerSchedulers(c);
    registerDiffusionPipeline(c, { tokenizer: { kind: 'word', corpus: PROMPTS, contextLength: 8 }, schedulerConfig: SD_BETAS });
    const sampler = c.resolve(TOKENS.Sampler);
    expect(sampler.name).toBe('controlnet');
    const out = sampler.sample({ prompt: ['a lit molar'], conditions: [{ image: cond }], steps: 2, guidanceScale: 2 });
    expect(out.images.shape).toEqual([1, 3, 8, 8]);
  });
});

describe('image writers', () => {
  it('writes PNGs and an input | output | target grid with sharp', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'diffusion-'));
    const a = tensor([0, 0.5, 1, 0.25], [1, 1, 2, 2]);
    const b = tensor([1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 1], [1, 3, 2, 2]);
    const [png] = await writePngs(b, dir);
    const raw = await sharp(png!).raw().toBuffer({ resolveWithObject: true });
    expect([raw.info.width, raw.info.height, raw.info.channels]).toEqual([2, 2, 3]);
    expect(Array.from(raw.data.subarray(0, 6))).toEqual([255, 0, 0, 0, 255, 0]);
    const grid = gridRgb8([a, b, a], { padding: 1, scale: 2 });
    expect([grid.width, grid.height]).toEqual([3 * 5 + 1, 6]);
    const px = (x: number, y: number) => Array.from(grid.data.subarray((y * grid.width + x) * 3, (y * grid.width + x) * 3 + 3));
    expect(px(0, 0)).toEqual([255, 255, 255]); // padding
    expect(px(3, 1)).toEqual([128, 128, 128]); // a[0, 0, 0, 1] = 0.5, grey repeated
    expect(px(6, 1)).toEqual([255, 0, 0]); // b's first pixel, second column
    const path = await writeGrid(join(dir, 'grid.png'), [a, b, a], { padding: 1, scale: 2 });
    expect((await sharp(path).metadata()).width).toBe(16);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]); // written atomically, no temporaries left
    expect(() => gridRgb8([a, tensor([0, 0, 0], [1, 3, 1, 1])])).toThrow(/column 1/);
  });
});
