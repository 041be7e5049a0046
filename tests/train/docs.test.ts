/**
 * Runs the complete example of docs/training.md (it is examples/train-tiny.ts, which imports
 * the core by path where the page uses the package name) in a scratch folder beside core/,
 * twice: the second run, with more steps, resumes from the first.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const folder = join(root, `.docs-run-training-${process.pid}`);
afterAll(() => rm(folder, { recursive: true, force: true }));

function run(args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'train-tiny.ts', ...args], { cwd: folder, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('docs/training.md', () => {
  it('the complete example trains, checkpoints, writes the log and the curve, and resumes when extended', async () => {
    const md = await readFile(join(root, 'docs', 'training.md'), 'utf8');
    const block = /<!-- file: train-tiny.ts -->\n```ts\n([\s\S]*?)```/.exec(md);
    expect(block).not.toBeNull();
    await mkdir(folder, { recursive: true });
    // The page imports the package by name; the example file, inside the repository, by path.
    const source = block![1]!.replace("from 'ctrlora-ts'", "from '../core/index.ts'");
    expect(source).toBe(await readFile(join(root, 'examples', 'train-tiny.ts'), 'utf8'));
    await writeFile(join(folder, 'train-tiny.ts'), source);

    const first = run([]);
    const m = /^step 400, last loss (\d+\.\d+)$/m.exec(first);
    expect(m, first).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(0.1); // it learned sin + cos (y's variance is ~0.75)
    const ckpts = join(folder, 'runs', 'train-tiny', 'checkpoints');
    expect(await readdir(ckpts)).toEqual(['step-00000300', 'step-00000350', 'step-00000400']);

    const second = run(['--steps', '450']);
    expect(second).toMatch(/^step 450 \(resumed from runs\/train-tiny\/checkpoints\/step-00000400\), last loss \d/m);
    const events = (await readFile(join(folder, 'runs', 'train-tiny', 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; metrics?: { val_mse: number } });
    expect(events.filter((e) => e.type === 'run_end')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'step')).toHaveLength(450);
    const evals = events.filter((e) => e.type === 'eval');
    // Steps 100, 200, 300 and the final 400; then the second run's final 450.
    expect(evals.map((e) => (e as unknown as { step: number }).step)).toEqual([100, 200, 300, 400, 450]);
    expect(evals.at(-1)!.metrics!.val_mse).toBeLessThan(0.1);
    expect(evals.at(-1)!.metrics!.val_mse).toBeLessThan(evals[0]!.metrics!.val_mse / 2);
    expect((await sharp(join(folder, 'runs', 'train-tiny', 'loss.png')).metadata()).format).toBe('png');
  });
});
