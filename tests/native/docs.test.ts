/** Runs docs/native.md's example as written: it trains, and its buffer count stays flat after the first step. */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { nativeLabel, nativeSkip } from './suite.ts';

const root = join(import.meta.dirname, '..', '..');
const folder = join(root, `.docs-run-native-${process.pid}`);
afterAll(() => rm(folder, { recursive: true, force: true }));

describe.skipIf(nativeSkip)(`docs/native.md on ${nativeLabel}`, () => {
  it('runs as written', async () => {
    const md = await readFile(join(root, 'docs', 'native.md'), 'utf8');
    const code = md.match(/```ts\n([\s\S]*?)```/)![1]!;
    await mkdir(folder, { recursive: true });
    // the example imports from the repository root; the folder sits one level below it
    await writeFile(join(folder, 'example.ts'), code.replaceAll("'./core/", "'../core/"));
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import(join(folder, 'example.ts'));
      const lines = log.mock.calls;
      expect(lines[0]![0]).toMatchObject({ available: true });
      const steps = lines.slice(1) as [number, string, number][];
      expect(steps.map((l) => l[0])).toEqual([0, 25, 50, 75]);
      expect(Number(steps[3]![1])).toBeLessThan(Number(steps[0]![1]));
      expect(new Set(steps.map((l) => l[2])).size, 'buffers allocated, step by step').toBe(1);
    } finally {
      log.mockRestore();
    }
  });
});
