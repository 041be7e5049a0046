/** Runs docs/plugins.md as written: writes its files into a fresh folder beside core/ and runs compose.ts. */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const folder = `.docs-run-${process.pid}`;
afterAll(() => rm(join(root, folder), { recursive: true, force: true }));

describe('docs/plugins.md', () => {
  it('runs as written', async () => {
    const md = await readFile(join(root, 'docs', 'plugins.md'), 'utf8');
    const blocks = [...md.matchAll(/<!-- file: (\S+) -->\n```\w+\n([\s\S]*?)```/g)];
    expect(blocks.map((b) => b[1])).toEqual(['my-plugin/screen-blender.ts', 'my-plugin/recipe.json', 'my-plugin/compose.ts']);
    for (const [, file, body] of blocks) {
      const path = join(root, file!.replace(/^my-plugin\//, `${folder}/`));
      await mkdir(dirname(path), { recursive: true });
      // the JSONL sink's relative path would land in the working directory: keep it in the folder
      await writeFile(path, body!.replace('runs/my-plugin/events.jsonl', join(root, folder, 'events.jsonl')));
    }
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      await import(join(root, folder, 'compose.ts'));
      expect(log).toHaveBeenCalledWith('screen', '0.60 0.80');
    } finally {
      log.mockRestore();
    }
    expect(md).toContain('# screen 0.60 0.80');
  });
});
