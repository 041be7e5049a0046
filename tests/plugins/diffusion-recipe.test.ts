/**
 * A whole tiny diffusion stack from a JSON recipe (tests/fixtures/tiny-diffusion/recipe.json):
 * every model plugin loads through its register(container, options), the pipeline finds its
 * word tokenizer next to the recipe, and TOKENS.Sampler samples the same image as the same
 * models wired by hand.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PluginError, type SampleRequest, TOKENS, buildRecipe, buildRecipeFile, noGrad, rand } from '../../core/index.ts';
import { CtrLoraBaseControlNet } from '../../plugins/controlnet/index.ts';
import { DiffusionPipeline } from '../../plugins/diffusion/index.ts';
import { schedulerPlugins } from '../../plugins/schedulers/index.ts';
import { ClipTextModel, WordTokenizer } from '../../plugins/text-encoder/index.ts';
import { UNet2DConditionModel } from '../../plugins/unet/index.ts';
import { AutoencoderKL } from '../../plugins/vae/index.ts';

const RECIPE = fileURLToPath(new URL('../fixtures/tiny-diffusion/recipe.json', import.meta.url));
const TOKENIZER = fileURLToPath(new URL('../fixtures/tiny-diffusion/tokenizer.json', import.meta.url));
const SD_BETAS = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 };
const condition = rand([1, 3, 16, 16], { seed: 9 });
const request: SampleRequest = { prompt: 'a lit molar', conditions: [{ image: condition }], steps: 2, width: 16, height: 16, seed: 5, guidanceScale: 2 };

describe('a tiny diffusion stack from a JSON recipe', () => {
  it('is the recipe docs/diffusion.md shows', async () => {
    const md = await readFile(fileURLToPath(new URL('../../docs/diffusion.md', import.meta.url)), 'utf8');
    const shown = /<!-- file: recipe.json -->\n```json\n([\s\S]*?)```/.exec(md)![1]!;
    expect(shown).toBe(await readFile(fileURLToPath(new URL('../fixtures/tiny-diffusion/recipe.json', import.meta.url)), 'utf8'));
  });

  it('registers every plugin by name and samples deterministically, as the hand-wired stack does', async () => {
    const { container } = await buildRecipeFile(RECIPE);
    expect(Object.fromEntries(container.catalogue())).toEqual({
      VAE: ['vae'], UNet: ['unet'], ControlNet: ['ctrloraBase'], TextEncoder: ['clip-text'], Adapter: ['lora'],
      NoiseScheduler: ['ddpm', 'ddim', 'euler', 'dpmpp-2m'], Sampler: ['controlnet'],
    });
    expect(container.resolve(TOKENS.ControlNet)).toBeInstanceOf(CtrLoraBaseControlNet);
    expect(container.resolve(TOKENS.UNet)).toBe(container.resolve(TOKENS.UNet)); // one instance per container

    const sampler = container.resolve(TOKENS.Sampler);
    const images = noGrad(() => sampler.sample(request).images);
    expect(images.shape).toEqual([1, 3, 16, 16]);
    const values = Array.from(images.toArray());
    expect(values.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(100); // an image, not a constant
    expect(Array.from(noGrad(() => sampler.sample(request).images).toArray())).toEqual(values);

    const tokenizer = WordTokenizer.load(TOKENIZER);
    const byHand = new DiffusionPipeline({
      vae: new AutoencoderKL('tiny', { seed: 1 }),
      unet: new UNet2DConditionModel('tiny', { seed: 2 }),
      controlnet: new CtrLoraBaseControlNet('tiny', { seed: 4 }),
      textEncoder: new ClipTextModel('tiny', { vocabSize: tokenizer.vocabSize }, { seed: 3 }),
      tokenizer,
      schedulers: schedulerPlugins,
    }, { schedulerConfig: SD_BETAS });
    expect(Array.from(noGrad(() => byHand.sample(request).images).toArray())).toEqual(values);
  });

  it('names the plugin that lacks register(), and the option a plugin does not take', async () => {
    await expect(buildRecipe({ plugins: [{ module: '../../plugins/diffusion/pipeline.ts' }] }, { baseDir: fileURLToPath(new URL('.', import.meta.url)) }))
      .rejects.toThrow(/plugin '\.\.\/\.\.\/plugins\/diffusion\/pipeline\.ts' does not export a register\(container, options\) function \(exports: .*DiffusionPipeline/);
    await expect(buildRecipe({ plugins: [{ module: './plugins/unet/index.ts', options: { presett: 'tiny' } }] }))
      .rejects.toThrow(PluginError);
    await expect(buildRecipe({ plugins: [{ module: './plugins/unet/index.ts', options: { presett: 'tiny' } }] }))
      .rejects.toThrow(/plugins\/unet: unknown option "presett"; it takes "preset", "config", "seed"/);
    await expect(buildRecipe({ plugins: [{ module: './plugins/diffusion/index.ts', options: { tokenizer: { kind: 'word', path: './nowhere.json' } } }] }))
      .rejects.toThrow(/WordTokenizer\.load: cannot read .*nowhere\.json/);
  });
});
