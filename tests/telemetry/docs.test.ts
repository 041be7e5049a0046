/** Runs the sink example of docs/telemetry.md as written, through a recipe. */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildRecipe, startTelemetry } from '../../core/index.ts';

const root = join(import.meta.dirname, '..', '..');
const folder = join(root, `.docs-run-telemetry-${process.pid}`);
afterAll(() => rm(folder, { recursive: true, force: true }));

describe('docs/telemetry.md', () => {
  it('the custom sink example works as a plugin', async () => {
    const md = await readFile(join(root, 'docs', 'telemetry.md'), 'utf8');
    const block = /<!-- file: warnings-file.ts -->\n```ts\n([\s\S]*?)```/.exec(md);
    expect(block).not.toBeNull();
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'warnings-file.ts'), block![1]!);
    const out = join(folder, 'warnings.txt');
    const container = await buildRecipe({ plugins: [{ module: './warnings-file.ts', options: { path: out } }] }, { baseDir: folder });
    const t = startTelemetry(container);
    t.bus.runStart({}, { total: 1, trainable: 1 }, 2);
    t.bus.step({ step: 1, loss: Infinity, lr: 1, batchSize: 1 });
    t.bus.step({ step: 2, loss: 1, lr: 1, batchSize: 1, gradNorm: 1e9 });
    await t.close();
    expect(await readFile(out, 'utf8')).toBe('step 1: loss is Infinity at step 1\nstep 2: gradient norm 1.000e+9 exceeds 1000 at step 2\n');
  });
});
