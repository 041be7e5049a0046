/**
 * `generate --recipe FILE`: a user's blender or extractor reaches the dental CLI through a recipe
 * (also in worker threads), the recipe's paths resolve against its folder wherever the CLI runs,
 * a flag on the command line wins, and a plugin taking a bundled name is refused.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const core = pathToFileURL(join(root, 'core', 'index.ts')).href;
let dir: string, recipes: string, elsewhere: string;

/** Runs the CLI from `elsewhere` (not the repository, not the recipe's folder). */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', pathToFileURL(join(root, 'node_modules', 'tsx', 'dist', 'esm', 'index.mjs')).href, join(root, 'examples', 'dental', 'cli.ts'), ...args], { cwd: elsewhere });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

async function pixels(file: string): Promise<Uint8Array> {
  return new Uint8Array((await sharp(file).raw().toBuffer()).buffer.slice(0));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dental-cli-recipe-'));
  recipes = join(dir, 'recipes');
  elsewhere = join(dir, 'elsewhere');
  await mkdir(join(recipes, 'plugins'), { recursive: true });
  await mkdir(elsewhere);
  // the user's project is ESM (as this framework is); a .ts plugin outside any "type": "module" scope would load as CommonJS
  await writeFile(join(recipes, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  // a user's blender: the lighter of the two maps, per channel
  await writeFile(join(recipes, 'plugins', 'lighten.ts'), `
import { TOKENS, type Image, type PluginContainer } from ${JSON.stringify(core)};
export function register(container: PluginContainer, options: { name?: string }): void {
  const name = options.name ?? 'lighten';
  container.register(TOKENS.ConditionBlender, name, { useValue: {
    name,
    blend: (l: Image, s: Image): Image => ({ ...l, data: l.data.map((v, i) => Math.max(v, s.data[i]!)) }),
  } });
}
`);
  await writeFile(join(recipes, 'lighten.json'), JSON.stringify({
    plugins: [{ module: './plugins/lighten.ts' }],
    select: { ConditionBlender: 'lighten' },
    generate: { out: '../data/lighten', count: 3, size: 16, workers: 2 },
  }));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('dental generate --recipe', () => {
  it('makes source/ with the recipe\'s blender, in worker threads, into a folder relative to the recipe', async () => {
    const r = await cli('generate', '--recipe', join(recipes, 'lighten.json'), '--no-progress');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = join(dir, 'data', 'lighten');
    expect(r.stdout).toMatch(/wrote 3 samples \(16x16, seed 0, blender lighten\)/);
    expect(await readdir(elsewhere)).toEqual([]);
    const meta = JSON.parse(await readFile(join(out, 'dataset.json'), 'utf8'));
    expect(meta.blender).toBe('lighten');
    expect(meta.recipe).toBe(join(recipes, 'lighten.json'));
    for (const f of await readdir(join(out, 'source'))) {
      const [src, l, s] = await Promise.all(['source', 'lighting', 'segmentation'].map((m) => pixels(join(out, m, f))));
      // the PNGs are 8-bit: max of two 8-bit maps is exact
      expect(Array.from(src!)).toEqual(Array.from(l!, (v, i) => Math.max(v, s![i]!)));
    }
  });

  it('a flag on the command line wins over the recipe; the output path flag is relative to the working folder', async () => {
    const r = await cli('generate', '--recipe', join(recipes, 'lighten.json'), '--count', '2', '--blender', 'multiply', '--out', 'mine', '--workers', '1', '--no-progress');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote 2 samples \(16x16, seed 0, blender multiply\)/);
    expect(await readdir(join(elsewhere, 'mine', 'source'))).toHaveLength(2);
  });

  it('an extractor makes source/ from the target: canny with the edges map\'s settings reproduces edges/', async () => {
    const r = await cli('generate', '--out', 'canny', '--count', '2', '--size', '32', '--workers', '1', '--no-progress',
      '--extractor', 'canny', '--extract-option', 'low=60', '--extract-option', 'high=140', '--extract-option', 'sigma=0.6');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/extractor canny/);
    const out = join(elsewhere, 'canny');
    expect(JSON.parse(await readFile(join(out, 'dataset.json'), 'utf8'))).toMatchObject({ extractor: 'canny', extractorOptions: { low: 60, high: 140, sigma: 0.6 } });
    for (const f of await readdir(join(out, 'source'))) {
      expect(Array.from(await pixels(join(out, 'source', f)))).toEqual(Array.from(await pixels(join(out, 'edges', f))));
    }
  });

  it('refuses a plugin named like a bundled one unless the recipe overrides, unknown settings, and blender + extractor', async () => {
    const shadow = join(recipes, 'shadow.json');
    await writeFile(shadow, JSON.stringify({ plugins: [{ module: './plugins/lighten.ts', options: { name: 'alpha' } }], generate: { count: 1, size: 16 } }));
    const r = await cli('generate', '--recipe', shadow, '--out', 'shadow', '--no-progress');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/registers ConditionBlender 'alpha', a name the parent container \(the bundled plugins\) already registered; rename it, or add "override": true/);
    await writeFile(shadow, JSON.stringify({ plugins: [{ module: './plugins/lighten.ts', options: { name: 'alpha' }, override: true }], generate: { count: 1, size: 16, blender: 'alpha', workers: 1 } }));
    const ok = await cli('generate', '--recipe', shadow, '--out', 'shadow', '--no-progress');
    expect(ok.stderr).toBe('');
    const f = (await readdir(join(elsewhere, 'shadow', 'source')))[0]!;
    const [src, l, s] = await Promise.all(['source', 'lighting', 'segmentation'].map((m) => pixels(join(elsewhere, 'shadow', m, f))));
    expect(Array.from(src!)).toEqual(Array.from(l!, (v, i) => Math.max(v, s![i]!)));

    await writeFile(shadow, JSON.stringify({ plugins: [], generate: { cuont: 1 } }));
    expect((await cli('generate', '--recipe', shadow, '--no-progress')).stderr).toMatch(/"generate" has unknown setting "cuont"; it takes "out", "count"/);
    const both = await cli('generate', '--out', 'both', '--blender', 'alpha', '--extractor', 'canny', '--no-progress');
    expect(both.stderr).toMatch(/a blender \("alpha"\) or an extractor \("canny"\), not both/);
    const unknown = await cli('generate', '--out', 'unknown', '--blender', 'lighten', '--no-progress');
    expect(unknown.stderr).toMatch(/unknown condition blender "lighten"; registered: alpha, multiply/);
    expect(await readdir(elsewhere)).not.toContain('both');
  });
});
