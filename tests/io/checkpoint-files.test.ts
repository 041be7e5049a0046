/** saveModule/saveOptimizer create missing folders; the optimiser file carries the LR schedule's position. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdamW, LRScheduler, Linear, loadModule, loadOptimizer, mseLoss, randn, saveModule, saveOptimizer } from '../../core/index.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'checkpoint-files-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('checkpoint files', () => {
  it('saveModule and saveOptimizer create the folders on the way', async () => {
    const m = new Linear(2, 1, { seed: 1 });
    await saveModule(join(dir, 'a', 'b', 'model.safetensors'), m);
    await saveOptimizer(join(dir, 'c', 'd', 'opt.safetensors'), new AdamW(m.parameters()));
    const back = new Linear(2, 1, { seed: 2 });
    await loadModule(join(dir, 'a', 'b', 'model.safetensors'), back);
    expect(Array.from(back.weight.toArray())).toEqual(Array.from(m.weight.toArray()));
  });

  it('a resumed run with its schedule continues with the same learning rates and weights', async () => {
    const x = randn([8, 2], { seed: 1 });
    const y = randn([8, 1], { seed: 2 });
    const setup = () => {
      const m = new Linear(2, 1, { seed: 3 });
      const o = new AdamW(m.parameters(), { lr: 0.1 });
      return { m, o, s: new LRScheduler(o, 'cosine', { warmupSteps: 4, totalSteps: 12 }) };
    };
    const steps = (r: ReturnType<typeof setup>, n: number) => {
      const lrs: number[] = [];
      for (let i = 0; i < n; i++) {
        r.o.zeroGrad();
        mseLoss(r.m.forward(x), y).backward();
        r.o.step();
        r.s.step();
        lrs.push(r.s.lr);
      }
      return lrs;
    };
    const a = setup();
    steps(a, 5);
    await saveModule(join(dir, 'run', 'model.safetensors'), a.m);
    await saveOptimizer(join(dir, 'run', 'opt.safetensors'), a.o, { schedule: a.s });
    const want = steps(a, 4);

    const b = setup();
    await loadModule(join(dir, 'run', 'model.safetensors'), b.m);
    await loadOptimizer(join(dir, 'run', 'opt.safetensors'), b.o, { schedule: b.s });
    expect(b.s.currentStep).toBe(5);
    expect(steps(b, 4)).toEqual(want);
    expect(Array.from(b.m.weight.toArray())).toEqual(Array.from(a.m.weight.toArray()));

    // leaving the schedule out, either way round, would change the learning rate silently: refused
    const c = setup();
    await expect(loadOptimizer(join(dir, 'run', 'opt.safetensors'), c.o)).rejects.toThrow(/holds an LR schedule's state .*"lastStep":5.*pass \{ schedule \}/);
    await saveOptimizer(join(dir, 'run', 'plain.safetensors'), c.o);
    await expect(loadOptimizer(join(dir, 'run', 'plain.safetensors'), c.o, { schedule: c.s })).rejects.toThrow(/a schedule was given but the file holds none/);
    await expect(saveOptimizer(join(dir, 'run', 'x.safetensors'), c.o, { schedule: a.s })).rejects.toThrow(/drives another optimiser/);
  });
});
