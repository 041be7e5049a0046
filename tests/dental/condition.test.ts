/**
 * Where the condition image comes from: a configured blender or extractor always applies (the
 * generated layout's baked source/ no longer wins over it), and one a dataset cannot apply is an
 * error, never ignored.
 */
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRecipe } from '../../core/plugins/recipe.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { DentalDataset } from '../../examples/dental/dataset.ts';
import { generateDataset } from '../../examples/dental/generate.ts';
import { ProceduralDentalDataset } from '../../examples/dental/procedural-dataset.ts';
import type { DentalSample } from '../../examples/dental/dataset.ts';
import { AlphaBlender, MaskCompositeBlender } from '../../plugins/blenders/index.ts';
import { CannyExtractor, SoftEdgesExtractor } from '../../plugins/conditions/index.ts';

let base: string, gen: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'dental-condition-'));
  gen = join(base, 'generated');
  await generateDataset({ outDir: gen, count: 3, seed: 3, width: 32, height: 32, blender: 'mask-composite', workers: 1 });
});
afterAll(() => rm(base, { recursive: true, force: true }));

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const unit = (s: DentalSample) => ({ ...s.target, data: s.target.data.map((v) => (v + 1) / 2) });

describe('the condition source of a dental dataset', () => {
  it('a blender given for a generated dataset makes the condition from its lighting and segmentation, not from the baked source/', async () => {
    const baked = await (await DentalDataset.open(gen, { width: 32 })).get(0);
    const alpha = new AlphaBlender();
    const s = await (await DentalDataset.open(gen, { width: 32, blender: alpha, blenderOptions: { weight: 0.7 } })).get(0);
    expect(Array.from(s.condition.data)).toEqual(Array.from(alpha.blend(s.lighting!, s.segmentation!, { weight: 0.7 }).data));
    // and it is really different from what was baked with mask-composite
    expect(maxDiff(s.condition.data, baked.condition.data)).toBeGreaterThan(0.1);
  });

  it('an extractor makes the condition from the target, in every layout', async () => {
    const canny = new CannyExtractor();
    const s = await (await DentalDataset.open(gen, { width: 32, extractor: canny, extractorOptions: { low: 40, high: 90 } })).get(1);
    expect(Array.from(s.condition.data)).toEqual(Array.from(canny.extract(unit(s), { low: 40, high: 90 }).data));
    expect(s.condition.data.some((v) => v === 1)).toBe(true);
    const ctrlora = join(base, 'ctrlora');
    for (const p of ['prompt.json', 'source', 'target']) await cp(join(gen, p), join(ctrlora, p), { recursive: true });
    const soft = new SoftEdgesExtractor();
    const t = await (await DentalDataset.open(ctrlora, { width: 32, extractor: soft })).get(1);
    expect(Array.from(t.condition.data)).toEqual(Array.from(soft.extract(unit(t)).data));
  });

  it('a blender on data with only source images is an error at open, naming the blender and the folder', async () => {
    const ctrlora = join(base, 'ctrlora-only');
    for (const p of ['prompt.json', 'source', 'target']) await cp(join(gen, p), join(ctrlora, p), { recursive: true });
    await expect(DentalDataset.open(ctrlora, { blender: new AlphaBlender() })).rejects.toThrow(
      `blender "alpha" cannot apply to ${ctrlora}: it has prompt.json with source images but no lighting/ and segmentation/ folders`);
    expect((await DentalDataset.open(ctrlora)).length).toBe(3);
  });

  it('a blender and an extractor together are refused', async () => {
    await expect(DentalDataset.open(gen, { blender: new AlphaBlender(), extractor: new CannyExtractor() })).rejects.toThrow(/both a blender \("alpha"\) and an extractor \("canny"\)/);
    expect(() => new ProceduralDentalDataset({ count: 1, seed: 0, width: 16, height: 16, blender: new MaskCompositeBlender(), extractor: new CannyExtractor() })).toThrow(/pick one/);
    expect(() => new ProceduralDentalDataset({ count: 1, seed: 0, width: 16, height: 16 })).toThrow(/set a blender or an extractor/);
  });

  it('the procedural dataset takes an extractor by name from a recipe', async () => {
    const run = await buildRecipe({
      plugins: [
        { module: './plugins/conditions/index.ts' },
        { module: './examples/dental/register.ts', options: { count: 2, seed: 4, width: 16, extractor: 'soft-edges' } },
      ],
    }, { baseDir: process.cwd() });
    const s = (await run.resolve(TOKENS.Dataset).get(1)) as DentalSample;
    // the extractor saw the render in [0, 1]; the sample's target went through [-1, 1] (float rounding)
    expect(maxDiff(s.condition.data, new SoftEdgesExtractor().extract(unit(s)).data)).toBeLessThan(1e-5);
    expect(s.condition.data.some((v) => v > 0.2)).toBe(true);
    await expect(buildRecipe({ plugins: [{ module: './examples/dental/register.ts', options: { count: 1, blender: 'alpha', extractor: 'canny' } }] }, { baseDir: process.cwd() }))
      .rejects.toThrow(/both "blender" \("alpha"\) and "extractor" \("canny"\) are set/);
  });
});
