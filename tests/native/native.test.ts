/**
 * The native backend beyond the shared property suite: thread counts agree, every ISA path
 * agrees with the reference, a tidy() training step stops allocating after its first steps
 * (heap and pool flat over hundreds of steps), and bad input gets errors that name it.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';
import { container as tsyringe } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH } from '../../core/backends/native/addon.ts';
import { NativeBackend, NativeStorage, nativeStatus, register } from '../../core/backends/native/index.ts';
import {
  AdamW, ArgumentError, Conv2d, GroupNorm, Linear, Module, PluginContainer, TOKENS, type Tensor, conv2d, groupNorm, layerNorm, rand, randn, tidy, withBackend,
} from '../../core/index.ts';
import { expectClose, reference } from '../gpu/harness.ts';
import { nativeBackend, nativeLabel, nativeSkip } from './suite.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Large enough that every kernel below splits over the pool (its threshold is 65,536 multiply-adds). */
function workload(): Tensor[] {
  const a = randn([3, 97, 130], { seed: 1 }).requiresGrad_();
  const b = randn([130, 211], { seed: 2 }).requiresGrad_();
  const x = randn([2, 24, 19, 21], { seed: 3 }).requiresGrad_();
  const w = randn([32, 12, 3, 3], { seed: 4 }).requiresGrad_();
  // tall and narrow: the gradient of `narrow` (200x300 @ 300x12) runs transposed, C^T = B^T A^T
  const tall = randn([300, 200], { seed: 5 }).requiresGrad_();
  const narrow = randn([200, 12], { seed: 6 }).requiresGrad_();
  const mm = a.matmul(b);
  const tn = tall.matmul(narrow);
  const c = conv2d(x, w, null, { padding: 1, stride: 1, groups: 2 });
  const gn = groupNorm(c, 8, null, null, 1e-5);
  const ln = layerNorm(mm, [211]);
  const sm = mm.softmax(-1);
  const mix = c.silu().mul(gn).add(c.mean([2, 3], true));
  mm.mul(ln).sum().add(sm.square().sum()).add(mix.sum()).add(tn.square().sum()).backward();
  return [mm, c, gn, ln, sm, mix, tn, a.grad!, b.grad!, x.grad!, w.grad!, tall.grad!, narrow.grad!];
}

describe.skipIf(nativeSkip)(`${nativeLabel}: the backend itself`, () => {
  it('reports the ISA it dispatched to, and its thread count', () => {
    const status = nativeStatus();
    expect(status.available).toBe(true);
    const b = nativeBackend();
    expect(['avx512', 'avx2', 'portable']).toContain(b.isa);
    expect(status.available && status.isa).toBe(b.isa);
    expect(b.name).toBe('native');
    expect(b.threads).toBeGreaterThanOrEqual(1);
  });

  it('1 thread and 3 threads agree within the reduction tolerance, and with the reference', () => {
    const run = (backend: NativeBackend) => withBackend(backend, () => tidy(() => workload().map((t) => t.toArray()), backend));
    const one = run(nativeBackend(1));
    const three = run(nativeBackend(3));
    const want = withBackend(reference, () => workload().map((t) => t.toArray()));
    one.forEach((v, i) => {
      expectClose(three[i]!, v, { reduction: 19 * 21 * 2 * 108, termMax: 16, rtol: 1e-4 }, `output ${i}, 3 threads against 1`);
      expectClose(v, want[i]!, { reduction: 19 * 21 * 2 * 108, termMax: 16, rtol: 1e-4 }, `output ${i}, 1 thread against the reference`);
    });
  });

  // Each ISA is capped by CTRLORA_NATIVE_ISA in a child process (the choice is made once per process).
  it.each(['avx2', 'portable'])('the %s GEMM and unary kernels agree with the reference', (isa) => {
    const script = `
      import { NativeBackend } from './core/backends/native/index.ts';
      import { randn, conv2d, withBackend, ReferenceBackend } from './core/index.ts';
      const f = () => {
        const a = randn([2, 45, 77], { seed: 1 }).requiresGrad_();
        const b = randn([77, 53], { seed: 2 }).requiresGrad_();
        const x = randn([3, 6, 11, 9], { seed: 3 }).requiresGrad_();
        const w = randn([10, 3, 3, 3], { seed: 4 }).requiresGrad_();
        const u = randn([999], { seed: 5, std: 3 }).requiresGrad_();
        const y = a.matmul(b);
        const c = conv2d(x, w, null, { padding: 1, stride: 2, groups: 2 });
        const un = u.silu().add(u.sigmoid()).add(u.mul(0.3).exp()).add(u.gelu()).add(u.tanh());
        y.square().sum().add(c.square().sum()).add(un.square().sum()).backward();
        return [y, c, un, a.grad, b.grad, x.grad, w.grad, u.grad].map((t) => Array.from(t.toArray()));
      };
      const nb = new NativeBackend({ threads: 2 });
      console.log(JSON.stringify({ isa: nb.isa, got: withBackend(nb, f), want: withBackend(new ReferenceBackend(), f) }));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, CTRLORA_NATIVE_ISA: isa }, encoding: 'utf8',
    });
    const { isa: ran, got, want } = JSON.parse(out) as { isa: string; got: number[][]; want: number[][] };
    expect(ran).toBe(isa);
    got.forEach((g, i) => expectClose(Float32Array.from(g), Float32Array.from(want[i]!), { reduction: 2 * 45 * 77, termMax: 64, rtol: 1e-4 }, `${isa} output ${i}`));
  });

  it('Node worker threads sharing the addon run large products at once and get them right', async () => {
    // Each thread's loop owns the pool while it runs; a loop started meanwhile runs serially.
    const body = `
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData);
      addon.setThreads(2);
      const n = 300, a = new Float32Array(n * n).fill(1), b = new Float32Array(n * n).fill(2), c = new Float32Array(n * n);
      let ok = true;
      for (let i = 0; i < 60; i++) { addon.matmul(a, b, c, 1, n, n, n, false, false); ok &&= c.every((v) => v === 2 * n); }
      parentPort.postMessage(ok);`;
    const runs = [0, 1, 2].map(() => new Promise<boolean>((resolve, reject) => {
      const w = new Worker(body, { eval: true, workerData: ADDON_PATH });
      w.once('message', resolve);
      w.once('error', reject);
    }));
    expect(await Promise.all(runs)).toEqual([true, true, true]);
  });

  it('reuses released buffers by size: a dispose and an equal-size kernel allocate nothing', () => {
    const b = nativeBackend();
    const x = b.upload([1, 2, 3, 4, 5]);
    const y = b.unary('exp', x);
    const before = b.stats.allocations;
    b.dispose(y);
    const z = b.unary('neg', x) as NativeStorage;
    expect(b.stats.allocations).toBe(before);
    expect(Array.from(z.data)).toEqual([-1, -2, -3, -4, -5]);
    expect(() => (y as NativeStorage).data).toThrow(/disposed/);
    expect(() => b.unary('exp', y)).toThrow(/disposed/);
  });

  it('keeps no reference to storages it hands out: one never disposed is garbage-collected with its buffer', async () => {
    const b = nativeBackend();
    let collected = false;
    const registry = new FinalizationRegistry<string>(() => {
      collected = true;
    });
    (() => registry.register(b.unary('neg', b.upload(new Float32Array(1 << 16))), 'storage'))();
    for (let i = 0; i < 50 && !collected; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(collected).toBe(true);
  });

  it('a tidy() training step allocates nothing after warm-up: pool, live storages and heap stay flat over 400 steps', () => {
    const b = nativeBackend();
    withBackend(b, () => {
      class Net extends Module {
        conv = this.registerModule('conv', new Conv2d(4, 16, 3, { padding: 1, seed: 1, backend: b }));
        norm = this.registerModule('norm', new GroupNorm(4, 16, { backend: b }));
        head = this.registerModule('head', new Linear(16, 1, { seed: 2, backend: b }));
        forward(x: Tensor): Tensor {
          return this.head.forward(this.norm.forward(this.conv.forward(x)).silu().mean([2, 3]));
        }
      }
      const net = new Net();
      const opt = new AdamW(net.parameters(), { lr: 1e-2 });
      const x = randn([4, 4, 12, 12], { seed: 3 });
      const y = rand([4, 1], { seed: 4 });
      const step = () => tidy(() => {
        opt.zeroGrad();
        const loss = net.forward(x).sub(y).square().mean();
        loss.backward();
        opt.step();
        return loss.item();
      }, b);
      const first = step();
      for (let i = 0; i < 20; i++) step();
      gc();
      const at20 = { ...b.stats, heap: process.memoryUsage().heapUsed, rss: process.memoryUsage().rss };
      let last = first;
      for (let i = 0; i < 400; i++) last = step();
      gc();
      const mem = process.memoryUsage();
      expect(b.stats.allocations, 'buffers allocated after warm-up').toBe(at20.allocations);
      expect(b.stats.liveStorages).toBe(at20.liveStorages);
      expect(b.stats.pooledBytes).toBe(at20.pooledBytes);
      expect(mem.heapUsed - at20.heap, 'heap growth over 400 steps').toBeLessThan(2 * 1024 * 1024);
      expect(mem.rss - at20.rss, 'RSS growth over 400 steps').toBeLessThan(32 * 1024 * 1024);
      expect(last).toBeLessThan(first);
    });
  });

  it('names the operand at fault', () => {
    const b = nativeBackend();
    const ref = reference.upload([1, 2]);
    expect(() => b.unary('exp', ref)).toThrow(ArgumentError);
    expect(() => b.unary('exp', ref)).toThrow(/exp input is a storage of backend 'reference'/);
    const table = b.upload([1, 2, 3, 4]);
    expect(() => b.gatherRows(table, b.upload([0, 2]), 2, 2)).toThrow(/native.gatherRows: index 1 is 2.*table of 2/);
    expect(() => b.matmul(b.upload([1, 2]), table, 1, 2, 2, 2, false, false)).toThrow(/native.matmul: a has 2 values, needs 4/);
    expect(() => new NativeBackend({ threads: 0 })).toThrow(/threads must be an integer from 1 to 1024, got 0/);
    expect(() => new NativeBackend({ thread: 2 } as never)).toThrow(/unknown option 'thread'/);
  });

  it('registers as the recipe backend plugin on either container flavour', () => {
    const pc = new PluginContainer();
    register(pc, { threads: 1 });
    const viaPlugins = pc.resolve(TOKENS.Backend);
    expect(viaPlugins).toBeInstanceOf(NativeBackend);
    expect((viaPlugins as NativeBackend).threads).toBe(1);
    const child = tsyringe.createChildContainer();
    register(child, {});
    expect(child.resolve(TOKENS.Backend)).toBe(child.resolve(TOKENS.Backend));
    expect(() => register(pc, { mode: 'x' } as never)).toThrow(/backend\/native: unknown option "mode"/);
  });
});
