/**
 * docs/custom-ops.md as written: its file blocks are the files the tests run (verbatim), and
 * its usage block runs from the repository root and prints what its comments say.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const usageFile = join(root, `.docs-custom-ops-${process.pid}.ts`);
afterAll(() => rm(usageFile, { force: true }));

describe('docs/custom-ops.md', () => {
  it('shows the example op and its gpu.js property test exactly as they are in the repository', async () => {
    const md = await readFile(join(root, 'docs', 'custom-ops.md'), 'utf8');
    const blocks = [...md.matchAll(/<!-- file: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
    expect(blocks.map((b) => b[1])).toEqual(['examples/custom-op/softplus.ts', 'tests/gpu/softplus.property.test.ts']);
    for (const [, file, body] of blocks) expect(body, file).toBe(await readFile(join(root, file!), 'utf8'));
  });

  it('runs its usage block and prints the values in its comments', async () => {
    const md = await readFile(join(root, 'docs', 'custom-ops.md'), 'utf8');
    const body = md.match(/<!-- run: custom-ops-usage -->\n```ts\n([\s\S]*?)```/)![1]!;
    await writeFile(usageFile, body);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import(usageFile);
      const printed = log.mock.calls.map((c) => c.join(' '));
      const promised = [...body.matchAll(/console\.log\(.*\); \/\/ (.*)/g)].map((m) => m[1]);
      expect(printed).toEqual(promised);
    } finally {
      log.mockRestore();
    }
  });
});
