/**
 * Resume after kill -9: a child process trains the tiny task and kills itself at a chosen step
 * or checkpoint phase; a second child resumes from 'latest'. Its losses and final weights must
 * equal an uninterrupted run's, bit for bit, and no temporary folder may survive.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = await mkdtemp(join(tmpdir(), 'trainer-resume-'));
afterAll(() => rm(root, { recursive: true, force: true }));

interface ChildRun {
  signal: NodeJS.Signals | null;
  code: number | null;
  losses: Map<number, number>;
  stderr: string;
}

function runChild(dir: string, env: Record<string, string>): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'child.ts')], {
      env: { ...process.env, TRAIN_DIR: dir, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const losses = new Map<number, number>();
      for (const line of out.split('\n').filter(Boolean)) {
        const { step, loss } = JSON.parse(line) as { step: number; loss: number };
        losses.set(step, loss);
      }
      resolve({ code, signal, losses, stderr: err });
    });
  });
}

async function finalOf(dir: string): Promise<{ step: number; resumedFrom: string | null; weights: Record<string, number[]> }> {
  return JSON.parse(await readFile(join(dir, 'final.json'), 'utf8'));
}

// kill point -> the checkpoint the resumed run must start from
const scenarios: [string, number][] = [
  ['step:5', 3], // between checkpoints
  ['phase:begin:6', 3], // the temporary folder just created
  ['phase:weights:6', 3], // mid-save: weights written, optimiser not yet
  ['phase:state:6', 3], // every file written, folder not yet renamed
  ['phase:renamed:9', 9], // renamed, older ones not yet pruned
  ['phase:pruned:10', 10], // the final checkpoint complete
];

describe('Trainer: resume after SIGKILL', () => {
  it('continues bit for bit from the last complete checkpoint, whatever the kill point', async () => {
    const refDir = join(root, 'reference');
    const ref = await runChild(refDir, {});
    expect(ref.code, ref.stderr).toBe(0);
    expect([...ref.losses.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const reference = await finalOf(refDir);
    expect(reference.resumedFrom).toBeNull();

    for (const [killAt, resumeStep] of scenarios) {
      const dir = join(root, killAt.replace(/:/g, '-'));
      const killed = await runChild(dir, { TRAIN_KILL_AT: killAt });
      expect(killed.signal, `${killAt}: ${killed.stderr}`).toBe('SIGKILL');
      const resumed = await runChild(dir, { TRAIN_RESUME: 'latest' });
      expect(resumed.code, `${killAt}: ${resumed.stderr}`).toBe(0);
      const final = await finalOf(dir);
      expect(final.resumedFrom, killAt).toBe(join(dir, 'checkpoints', `step-${String(resumeStep).padStart(8, '0')}`));
      expect(final.step).toBe(10);
      // Every loss either process printed equals the uninterrupted run's at that step.
      const expectedResumed = Array.from({ length: 10 - resumeStep }, (_, i) => resumeStep + 1 + i);
      expect([...resumed.losses.keys()], killAt).toEqual(expectedResumed);
      for (const run of [killed, resumed]) {
        for (const [step, loss] of run.losses) expect(loss, `${killAt} step ${step}`).toBe(ref.losses.get(step));
      }
      expect(final.weights, killAt).toEqual(reference.weights);
      // No temporary folder survives, and keepLast holds.
      const left = await readdir(join(dir, 'checkpoints'));
      expect(left.filter((n) => n.includes('.tmp-')), killAt).toEqual([]);
      expect(left.length, `${killAt}: ${left.join(', ')}`).toBeLessThanOrEqual(2);
    }
  });
});
