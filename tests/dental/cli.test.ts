import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gridHeader } from '../../examples/dental/image-io.ts';

const run = promisify(execFile);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dental-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'examples/dental/cli.ts', ...args], { cwd: process.cwd() });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('dental CLI', () => {
  it('generate writes the dataset and prompt.json', async () => {
    const out = join(dir, 'data');
    const r = await cli('generate', '--out', out, '--count', '3', '--size', '16', '--workers', '1', '--no-progress', '--blender', 'alpha', '--blend-option', 'weight=0.3');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote 3 samples \(16x16, seed 0, blender alpha\)/);
    expect((await readdir(join(out, 'target'))).sort()).toEqual(['upper_bottom_00002.png', 'upper_front_00001.png', 'upper_top_00000.png']);
    expect((await readFile(join(out, 'prompt.json'), 'utf8')).trim().split('\n')).toHaveLength(3);
    expect(JSON.parse(await readFile(join(out, 'dataset.json'), 'utf8')).blenderOptions).toEqual({ weight: 0.3 });
  });

  it('blend-preview writes lighting | segmentation | each blend, under a header row naming the columns', async () => {
    const out = join(dir, 'bp.png');
    const r = await cli('blend-preview', '--out', out, '--samples', '2', '--size', '32', '--blenders', 'alpha,screen');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 rows of lighting | segmentation | alpha | screen');
    const header = gridHeader(32).height;
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([4 * 32 + 5 * 2, header + 2 * 32 + 3 * 2, 3]);
    // every column has light label pixels in the header, on the grid's dark background
    for (let c = 0; c < 4; c++) {
      let light = 0;
      for (let y = 0; y < header; y++) {
        for (let x = 2 + c * 34; x < 2 + c * 34 + 32; x++) light += data[(y * info.width + x) * 3]! > 128 ? 1 : 0;
      }
      expect(light).toBeGreaterThan(5);
    }
    expect([...data.subarray(0, 3)]).toEqual([31, 31, 31]);
  });

  it('explains its options, rejects bad ones, and says what train needs when the base is missing', async () => {
    const help = await cli('generate', '--help');
    for (const flag of ['--out', '--count', '--seed', '--size', '--width', '--height', '--blender', '--blend-option', '--workers', '--overwrite', '--no-progress']) {
      expect(help.stdout).toContain(flag);
    }
    const bad = await cli('generate', '--count', 'many');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--count <n>' argument 'many' is invalid/);
    const typo = await cli('generate', '--out', join(dir, 'typo'), '--count', '1', '--size', '16', '--workers', '1', '--no-progress', '--blender', 'alpha', '--blend-option', 'wieght=0.3');
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('dental: alpha blender: unknown option "wieght"; it takes "weight"');
    expect(await readdir(dir)).not.toContain('typo'); // nothing written
    const badIndex = await cli('preview', '--indices', '1,x', '--out', join(dir, 'never.png'));
    expect(badIndex.code).not.toBe(0);
    expect(badIndex.stderr).toMatch(/--indices <list>' argument '1,x' is invalid\. expected an integer in \[0, \d+\], got "x"/);
    const train = await cli('train', '--base', join(dir, 'no-base'), '--out', join(dir, 'never-trained'), '--data', join(dir, 'no-data'));
    expect(train.code).toBe(1);
    expect(train.stderr).toContain(`${join(dir, 'no-base', 'model.json')} does not exist`);
    expect(train.stderr).toContain('npm run dental -- pretrain');
    expect(await readdir(dir)).not.toContain('never-trained');
  });
});
