import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRecipe } from '../../core/plugins/recipe.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import type { DentalSample } from '../../examples/dental/dataset.ts';
import { generateDataset } from '../../examples/dental/generate.ts';
import { blenderByName, registeredBlenders } from '../../plugins/blenders/index.ts';
import { extractorByName } from '../../plugins/conditions/index.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('the dental plugins in a framework recipe', () => {
  it('loads blenders, extractors and the procedural dataset by module path, and selects by name', async () => {
    const run = await buildRecipe({
      plugins: [
        { module: './plugins/blenders/index.ts' },
        { module: './plugins/conditions/index.ts' },
        { module: './examples/dental/register.ts', options: { count: 3, seed: 2, width: 16, blender: 'alpha', blenderOptions: { weight: 1 } } },
      ],
      select: { ConditionBlender: 'screen' },
    }, { baseDir: process.cwd() });
    expect(run.resolve(TOKENS.ConditionBlender).name).toBe('screen');
    expect(registeredBlenders(run).map((b) => b.name)).toEqual(['alpha', 'multiply', 'screen', 'overlay', 'soft-light', 'mask-composite', 'channel-stack']);
    expect(() => blenderByName(run, 'darken')).toThrow(/unknown condition blender "darken"; registered: alpha, multiply/);
    expect(extractorByName(run, 'soft-edges').name).toBe('soft-edges');
    const ds = run.resolve(TOKENS.Dataset);
    expect(ds.name).toBe('dental-procedural');
    expect(ds.length).toBe(3);
    const s = (await ds.get(0)) as DentalSample;
    expect(Array.from(s.condition.data)).toEqual(Array.from(s.segmentation!.data)); // alpha, weight 1
  });

  it('opens a dataset folder given as root', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dental-recipe-'));
    dirs.push(dir);
    await generateDataset({ outDir: dir, count: 4, seed: 1, width: 16, height: 16, blender: 'multiply', workers: 1 });
    const run = await buildRecipe({
      plugins: [{ module: './examples/dental/register.ts', options: { root: dir, width: 16, split: 'val', valFraction: 0.5 } }],
    }, { baseDir: process.cwd() });
    const ds = run.resolve(TOKENS.Dataset);
    expect(ds.name).toBe('dental');
    expect(ds.length).toBe(2);
    const build = (options: Record<string, unknown>) => buildRecipe({ plugins: [{ module: './examples/dental/register.ts', options }] }, { baseDir: process.cwd() });
    await expect(build({ count: 2, width: 16, flip: 'random' })).rejects.toThrow(/unknown option "flip" for the procedural dataset \(no "root"\); it takes "blender", "blenderOptions", "extractor", "extractorOptions", "width", "height", "count", "seed"/);
    await expect(build({ root: dir, skipinvalid: true, count: 3 })).rejects.toThrow(/unknown option "skipinvalid", "count" for the dataset folder loader \(with "root"\); it takes "blender", "blenderOptions", "extractor", "extractorOptions", "width", "height", "root", "split"/);
  });
});
