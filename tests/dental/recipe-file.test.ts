/** examples/dental/recipe-file.ts without the CLI: a command's recipe section, and the condition source it names. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conditionFrom, loadDentalRecipe, recipeSettings, withRecipe } from '../../examples/dental/recipe-file.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dental-recipe-file-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function recipe(config: object) {
  const file = join(dir, `r${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(config));
  return loadDentalRecipe(file);
}

const KNOWN = { out: 'path', count: 'integer', blender: 'string', blendOption: 'object', overwrite: 'boolean' } as const;

describe('recipeSettings', () => {
  it('resolves path settings against the recipe\'s folder and checks every type', async () => {
    const r = await recipe({ plugins: [], generate: { out: 'data/x', count: 3, blendOption: { weight: 0.2 }, overwrite: true } });
    expect(recipeSettings(r, 'generate', KNOWN)).toEqual({ out: join(dir, 'data', 'x'), count: 3, blendOption: { weight: 0.2 }, overwrite: true });
    expect(recipeSettings(r, 'train', KNOWN)).toEqual({});
    for (const [bad, message] of [
      [{ count: '3' }, /"count" must be an integer, got "3"/],
      [{ count: 2.5 }, /"count" must be an integer/],
      [{ out: 7 }, /"out" must be a path string, got 7/],
      [{ blendOption: [1] }, /"blendOption" must be an object/],
      [{ overwrite: 'yes' }, /"overwrite" must be a boolean/],
    ] as const) {
      const b = await recipe({ plugins: [], generate: bad });
      expect(() => recipeSettings(b, 'generate', KNOWN)).toThrow(message);
    }
    const notObject = await recipe({ plugins: [], generate: [1] });
    expect(() => recipeSettings(notObject, 'generate', KNOWN)).toThrow(/"generate" must be an object of settings/);
  });

  it('withRecipe: a flag from the command line wins, a default does not', () => {
    const cmd = new Command().option('--count <n>', '', Number, 10).option('--out <dir>', '', 'runs/x').exitOverride();
    cmd.parse(['--count', '5'], { from: 'user' });
    expect(withRecipe(cmd, cmd.opts<{ count: number; out: string }>(), { count: 3, out: '/r/data' })).toEqual({ count: 5, out: '/r/data' });
  });
});

describe('conditionFrom', () => {
  it('names win, then the recipe\'s select (blender or extractor), then the fallback', async () => {
    const bare = await loadDentalRecipe();
    expect(conditionFrom(bare, { blender: 'alpha', blenderOptions: { weight: 1 } })).toMatchObject({ blender: { name: 'alpha' }, blenderOptions: { weight: 1 } });
    expect(conditionFrom(bare, {}, 'mask-composite').blender!.name).toBe('mask-composite');
    expect(conditionFrom(bare, {})).toEqual({});
    const selects = await recipe({ plugins: [], select: { ConditionExtractor: 'soft-edges' } });
    expect(conditionFrom(selects, {}, 'mask-composite').extractor!.name).toBe('soft-edges');
    expect(conditionFrom(selects, { blender: 'screen' }).blender!.name).toBe('screen');
    const both = await recipe({ plugins: [], select: { ConditionExtractor: 'canny', ConditionBlender: 'alpha' } });
    expect(() => conditionFrom(both, {})).toThrow(/selects both a ConditionBlender and a ConditionExtractor/);
    expect(() => conditionFrom(bare, { extractor: 'hed' })).toThrow(/unknown condition extractor "hed"; registered: canny, soft-edges/);
  });
});
