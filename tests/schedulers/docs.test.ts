import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';

// The ```ts examples of docs/schedulers.md run as written, with their outputs checked. They import
// the package by name, so they run from a folder inside the repository (the name resolves to it).
const root = fileURLToPath(new URL('../../', import.meta.url));
const doc = readFileSync(join(root, 'docs/schedulers.md'), 'utf8');
const blocks = [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
const dir = mkdtempSync(join(root, '.docs-run-schedulers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runBlock(i: number): Promise<string[]> {
  const file = join(dir, `example-${i}.ts`);
  writeFileSync(file, blocks[i]!);
  const logs: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
    logs.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  });
  try {
    await import(/* @vite-ignore */ file);
  } finally {
    spy.mockRestore();
  }
  return logs;
}

describe('docs/schedulers.md examples', () => {
  it('has the examples this test expects', () => {
    expect(blocks.length).toBe(4);
  });
  it('sampling loop: SD1.5 DDIM timesteps and output shape', async () => {
    expect(await runBlock(0)).toEqual(['[981,961,941]', '[1,4,8,8]']);
  });
  it('training: addNoise / target / min-SNR weight shapes', async () => {
    expect(await runBlock(1)).toEqual(['[2,4,8,8] [2,4,8,8] [2]']);
  });
  it('diffusers config', async () => {
    expect(await runBlock(2)).toEqual(['1 scaled_linear']);
  });
  it('container', async () => {
    expect(await runBlock(3)).toEqual(['20']);
  });
});
