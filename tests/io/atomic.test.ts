/** writeFileAtomic: leftovers of killed writers removed on the next write, live ones kept; folders created. */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AdamW, LRScheduler, Linear, loadOptimizer, removeStaleTemps, saveModule, saveOptimizer, writeFileAtomic } from '../../core/index.ts';

const root = await mkdtemp(join(tmpdir(), 'atomic-'));
afterAll(() => rm(root, { recursive: true, force: true }));

/** The id of a process that has exited (so no process holds it, barring reuse in the next instant). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('writeFileAtomic', () => {
  it('removes the temporary files and folders of dead writers on the next write to the folder, keeps live ones', async () => {
    const dir = join(root, 'stale');
    await mkdir(dir);
    const dead = deadPid();
    await writeFile(join(dir, `a.bin.tmp-${dead}-0badc0de`), 'partial');
    await mkdir(join(dir, `step-00000004.tmp-${dead}-12345678`));
    await writeFile(join(dir, `step-00000004.tmp-${dead}-12345678`, 'model.safetensors'), 'partial');
    await writeFile(join(dir, `b.bin.tmp-${process.pid}-abcdef01`), 'a write in flight in this process');
    await writeFile(join(dir, 'notes.tmp-x'), 'not ours');
    await writeFileAtomic(join(dir, 'c.bin'), new Uint8Array([1, 2, 3]));
    expect((await readdir(dir)).sort()).toEqual([`b.bin.tmp-${process.pid}-abcdef01`, 'c.bin', 'notes.tmp-x']);
    expect([...(await readFile(join(dir, 'c.bin')))]).toEqual([1, 2, 3]);
    expect(await removeStaleTemps(join(dir, 'missing'))).toEqual([]);
  });

  it('creates missing folders (saveModule into a new run folder)', async () => {
    const path = join(root, 'new', 'deeper', 'model.safetensors');
    await saveModule(path, new Linear(2, 3, { seed: 1 }));
    expect((await readdir(join(root, 'new', 'deeper')))).toEqual(['model.safetensors']);
  });
});

describe('saveOptimizer / loadOptimizer carry the LR schedule', () => {
  it('restores the schedule position and refuses a schedule mismatch either way', async () => {
    const path = join(root, 'opt', 'optimizer.safetensors');
    const make = (withSchedule: boolean) => {
      const lin = new Linear(2, 2, { seed: 3 });
      const opt = new AdamW(lin.parameters(), { lr: 0.1 });
      const sched = withSchedule ? new LRScheduler(opt, 'linear', { warmupSteps: 2, totalSteps: 10 }) : null;
      return { opt, sched };
    };
    const a = make(true);
    for (let i = 0; i < 4; i++) a.sched!.step();
    await saveOptimizer(path, a.opt);
    const b = make(true);
    await loadOptimizer(path, b.opt);
    expect(b.sched!.currentStep).toBe(4);
    expect(b.opt.lrs).toEqual(a.opt.lrs);
    b.sched!.step();
    a.sched!.step();
    expect(b.opt.lrs).toEqual(a.opt.lrs);
    await expect(loadOptimizer(path, make(false).opt)).rejects.toThrow(/holds an LR schedule's state \(\{"lastStep":4,.*create the optimiser's LRScheduler/);
    const plain = join(root, 'opt', 'plain.safetensors');
    await saveOptimizer(plain, make(false).opt);
    await expect(loadOptimizer(plain, make(true).opt)).rejects.toThrow(/the optimiser has an LR schedule but the file holds none/);
    // Named explicitly: the same, and a schedule of another optimiser is refused.
    const c = make(true);
    await loadOptimizer(path, c.opt, { schedule: c.sched! });
    expect(c.sched!.currentStep).toBe(4);
    await expect(saveOptimizer(plain, make(false).opt, { schedule: c.sched! })).rejects.toThrow(/drives another optimiser/);
  });
});
