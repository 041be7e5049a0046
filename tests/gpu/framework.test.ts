/**
 * The framework layer on a gpu.js backend (issue: models run on whichever backend is
 * chosen): a small nn model's loss, every parameter's gradient and three AdamW steps agree
 * with the reference backend, and the step reads nothing back.
 */
import { describe, expect, it } from 'vitest';
import {
  AdamW, Conv2d, GroupNorm, Linear, Module, MultiheadAttention, type Backend, type Tensor, randn, withBackend,
} from '../../core/index.ts';
import { nativeBackend, nativeLabel, nativeSkip } from '../native/suite.ts';
import { MODES, backendFor, expectClose, reference } from './harness.ts';

class Tiny extends Module {
  conv: Conv2d;
  norm: GroupNorm;
  attn: MultiheadAttention;
  head: Linear;
  constructor(backend: Backend) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(3, 8, 3, { padding: 1, seed: 1, backend }));
    this.norm = this.registerModule('norm', new GroupNorm(4, 8, { backend }));
    this.attn = this.registerModule('attn', new MultiheadAttention(8, 2, { seed: 2, backend }));
    this.head = this.registerModule('head', new Linear(8, 1, { seed: 3, backend }));
  }
  forward(x: Tensor): Tensor {
    const h = this.norm.forward(this.conv.forward(x)).silu(); // [N, 8, 4, 4]
    const tokens = h.flatten(2).mT; // [N, 16, 8]
    return this.head.forward(tokens.add(this.attn.forward(tokens)));
  }
}

/** Loss, gradients and parameters after `steps` AdamW steps, all read at the end. */
function run(backend: Backend, steps: number) {
  return withBackend(backend, () => {
    const model = new Tiny(backend);
    const opt = new AdamW(model.parameters(), { lr: 1e-2 });
    const x = randn([2, 3, 4, 4], { seed: 5 });
    const y = randn([2, 16, 1], { seed: 6 });
    const losses: Tensor[] = [];
    let grads: Float32Array[] = [];
    for (let s = 0; s < steps; s++) {
      opt.zeroGrad();
      const loss = model.forward(x).sub(y).square().mean();
      loss.backward();
      if (s === 0) grads = model.parameters().map((p) => p.grad!.toArray());
      opt.step();
      losses.push(loss);
    }
    return { losses: losses.map((l) => l.item()), grads, params: model.parameters().map((p) => p.toArray()) };
  });
}

/** Every gpu.js variant, then the native backend (host memory: nothing to read back). */
const SUITES = [
  ...MODES.map((variant) => ({ label: `gpujs:${variant}`, skip: false, make: () => backendFor(variant), gpu: () => backendFor(variant) })),
  { label: nativeLabel, skip: nativeSkip, make: () => nativeBackend(), gpu: null },
];

describe.each(SUITES)('nn + AdamW on $label', ({ skip, make, gpu }) => {
  if (skip) {
    it.skip('(not built here)', () => {});
    return;
  }
  it('agrees with the reference backend', () => {
    const want = run(reference, 3);
    const got = run(make(), 3);
    expectClose(Float32Array.from(got.losses), Float32Array.from(want.losses), { reduction: 128, rtol: 1e-4 }, 'losses');
    got.grads.forEach((g, i) => expectClose(g, want.grads[i]!, { reduction: 128, rtol: 1e-3, atol: 1e-5 }, `gradient of parameter ${i}`));
    got.params.forEach((p, i) => expectClose(p, want.params[i]!, { reduction: 128, rtol: 1e-3, atol: 1e-5 }, `parameter ${i} after 3 steps`));
    expect(want.losses[2]!).toBeLessThan(want.losses[0]!);
  });

  it('a tidy() around each step keeps the parameters and the optimiser state (Backend.keep)', () => {
    const backend = make();
    const want = run(reference, 3);
    withBackend(backend, () => {
      const model = new Tiny(backend);
      const opt = new AdamW(model.parameters(), { lr: 1e-2 });
      const x = randn([2, 3, 4, 4], { seed: 5 });
      const y = randn([2, 16, 1], { seed: 6 });
      const live = backend.stats.liveStorages;
      const losses: number[] = [];
      const liveAfter: number[] = [];
      for (let s = 0; s < 3; s++) {
        losses.push(backend.tidy(() => {
          opt.zeroGrad();
          const loss = model.forward(x).sub(y).square().mean();
          loss.backward();
          opt.step();
          return loss.item();
        }));
        liveAfter.push(backend.stats.liveStorages - live);
      }
      // What the steps leave: AdamW's two moments per parameter (the parameters' new values
      // replace their old storages), the same after every step.
      const moments = 2 * model.parameters().length;
      expect(liveAfter).toEqual([moments, moments, moments]);
      expectClose(Float32Array.from(losses), Float32Array.from(want.losses), { reduction: 128, rtol: 1e-4 }, 'losses with a tidy per step');
      model.parameters().forEach((p, i) => expectClose(p.toArray(), want.params[i]!, { reduction: 128, rtol: 1e-3, atol: 1e-5 }, `parameter ${i} after 3 tidy steps`));
    });
  });

  it.runIf(gpu !== null)('reads nothing back during forward, backward and the optimiser step', () => {
    const backend = gpu!();
    withBackend(backend, () => {
      const model = new Tiny(backend);
      const opt = new AdamW(model.parameters(), { lr: 1e-2 });
      expect(model.parameters().every((p) => p.backend === backend)).toBe(true);
      const x = randn([2, 3, 4, 4], { seed: 5 });
      const before = backend.stats.readbacks;
      opt.zeroGrad();
      model.forward(x).square().mean().backward();
      opt.step();
      expect(backend.stats.readbacks).toBe(before);
    });
  });
});
