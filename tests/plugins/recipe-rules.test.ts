/**
 * The rules a recipe build enforces: a name collision is an error unless the entry overrides,
 * and every relative path in a recipe resolves against the recipe file's folder (module paths,
 * the telemetry sinks' files, the dental dataset root, the recipe's own keys via recipePath).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKENS, buildRecipe, buildRecipeFile, createRunContainer, recipePath, type PluginContainer } from '../../core/index.ts';
import { generateDataset } from '../../examples/dental/generate.ts';
import { register as registerBlenders } from '../../plugins/blenders/index.ts';

const root = resolve(import.meta.dirname, '..', '..');
const screenPlugin = join(root, 'tests', 'fixtures', 'my-plugin', 'screen-blender.ts');
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'recipe-rules-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A parent holding the bundled blenders, as an application's CLI builds recipes on. */
function bundledParent(): PluginContainer {
  const parent = createRunContainer();
  registerBlenders(parent);
  return parent;
}

describe('name collisions', () => {
  it('a plugin registering a bundled name is an error naming both, unless its entry overrides', async () => {
    await expect(buildRecipe({ plugins: [{ module: screenPlugin }] }, { parent: bundledParent() })).rejects.toThrow(
      /recipe: plugins\[0\] \(.*screen-blender\.ts\) registers ConditionBlender 'screen', a name the parent container \(the bundled plugins\) already registered; rename it, or add "override": true/);
    const run = await buildRecipe({ plugins: [{ module: screenPlugin, options: { strength: 0.5 }, override: true }] }, { parent: bundledParent() });
    // the override wins by name: the user's screen (strength 0.5), not the bundled one
    const blend = run.resolve(TOKENS.ConditionBlender, 'screen').blend({ width: 1, height: 1, channels: 1, data: new Float32Array([0]) }, { width: 1, height: 1, channels: 1, data: new Float32Array([1]) });
    expect(blend.data[0]).toBeCloseTo(0.5, 6);
  });

  it('two entries registering the same name collide; the error names the earlier entry', async () => {
    await expect(buildRecipe({ plugins: [{ module: './plugins/blenders/index.ts' }, { module: screenPlugin }] }, { baseDir: root })).rejects.toThrow(
      /plugins\[1\] \(.*screen-blender\.ts\) registers ConditionBlender 'screen', a name plugins\[0\] \(\.\/plugins\/blenders\/index\.ts\) already registered/);
  });

  it('an override that replaces nothing, and unknown entry keys, are errors', async () => {
    await expect(buildRecipe({ plugins: [{ module: screenPlugin, override: true }] })).rejects.toThrow(/says "override": true but replaced no registration/);
    await expect(buildRecipe({ plugins: [{ module: screenPlugin, overide: true } as never] })).rejects.toThrow(/plugins\[0\] has unknown key "overide"/);
    await expect(buildRecipe({ plugins: [{ module: screenPlugin, override: 'yes' } as never] })).rejects.toThrow(/override must be true or false/);
  });

  it('a guard is not left on the run container: registering later by hand still replaces by name', async () => {
    const run = await buildRecipe({ plugins: [{ module: screenPlugin }] });
    expect(() => run.register(TOKENS.ConditionBlender, 'screen', { useValue: { name: 'screen', blend: (a) => a } })).not.toThrow();
  });
});

describe('paths in a recipe resolve against its folder', () => {
  it('module paths, the JSONL and loss-curve files, the dental dataset root and the recipe\'s own keys', async () => {
    const recipeDir = join(dir, 'project', 'recipes');
    await mkdir(recipeDir, { recursive: true });
    await generateDataset({ outDir: join(dir, 'project', 'data'), count: 2, seed: 1, width: 16, height: 16, blender: 'alpha', workers: 1 });
    const recipe = {
      plugins: [
        { module: relative(recipeDir, screenPlugin), options: { strength: 1 } },
        { use: 'telemetry/jsonl', options: { path: 'logs/events.jsonl' } },
        { use: 'telemetry/loss-curve', options: { path: 'logs/loss.png' } },
        { module: join(root, 'examples', 'dental', 'register.ts'), options: { root: '../data', width: 16 } },
      ],
      output: '../runs/out',
    };
    await writeFile(join(recipeDir, 'recipe.json'), JSON.stringify(recipe));
    const elsewhere = process.cwd();
    const { container, config, baseDir } = await buildRecipeFile(join(recipeDir, 'recipe.json'));
    expect(process.cwd()).toBe(elsewhere);
    expect(baseDir).toBe(recipeDir);
    expect(container.resolve(TOKENS.ConditionBlender).name).toBe('screen');
    expect((await container.resolve(TOKENS.Dataset).get(0) as { name: string }).name).toMatch(/^target\//);
    expect(recipePath(baseDir, config.output as string)).toBe(join(dir, 'project', 'runs', 'out'));
    const sinks = container.resolveAll(TOKENS.TelemetrySink) as unknown as { options: { path: string } }[];
    expect(sinks.map((s) => s.options.path).sort()).toEqual([join(recipeDir, 'logs', 'events.jsonl'), join(recipeDir, 'logs', 'loss.png')]);
    expect(JSON.parse(await readFile(join(dir, 'project', 'data', 'dataset.json'), 'utf8')).blender).toBe('alpha');
  });
});
