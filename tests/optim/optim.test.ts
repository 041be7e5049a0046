import { describe, expect, it } from 'vitest';
import {
  Adam, AdamW, LRScheduler, Linear, Module, ReferenceBackend, SGD, Tensor, type Backend, clipGradNorm, gradNorm, lrLambda, mseLoss, randn, tensor,
} from '../../core/index.ts';
import { type MlpWeights, adamwByHand, mlpLossAndGrads } from './helpers.ts';

const dims = { n: 5, inp: 3, hidden: 4, out: 2 };

class Mlp extends Module {
  fc1: Linear;
  fc2: Linear;
  constructor(backend?: Backend) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(dims.inp, dims.hidden, { seed: 11, backend }));
    this.fc2 = this.registerModule('fc2', new Linear(dims.hidden, dims.out, { seed: 12, backend }));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.fc1.forward(x).tanh());
  }
}

function data(backend?: Backend) {
  return { x: randn([dims.n, dims.inp], { seed: 1, backend }), y: randn([dims.n, dims.out], { seed: 2, backend }) };
}

const f64 = (t: Tensor) => Float64Array.from(t.toFloat64Array());

function golden(backend: Backend | undefined, tol: number) {
  const net = new Mlp(backend);
  const { x, y } = data(backend);
  const hyper = { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
  const opt = new AdamW(net.parameters(), { lr: hyper.lr, weightDecay: hyper.weightDecay });
  const w: MlpWeights = { w1: f64(net.fc1.weight), b1: f64(net.fc1.bias!), w2: f64(net.fc2.weight), b2: f64(net.fc2.bias!) };
  const keys = ['w1', 'b1', 'w2', 'b2'] as const;
  const m = Object.fromEntries(keys.map((k) => [k, new Float64Array(w[k].length)])) as unknown as MlpWeights;
  const v = Object.fromEntries(keys.map((k) => [k, new Float64Array(w[k].length)])) as unknown as MlpWeights;
  const X = f64(x);
  const Y = f64(y);
  const losses: [number, number][] = [];
  for (let step = 1; step <= 10; step++) {
    opt.zeroGrad();
    const loss = mseLoss(net.forward(x), y);
    loss.backward();
    opt.step();
    const byHand = mlpLossAndGrads(w, X, Y, dims);
    for (const k of keys) adamwByHand(w[k], byHand.grads[k], m[k], v[k], step, hyper);
    losses.push([loss.item(), byHand.loss]);
  }
  const ours = [net.fc1.weight, net.fc1.bias!, net.fc2.weight, net.fc2.bias!];
  keys.forEach((k, i) => {
    const got = ours[i]!.toFloat64Array();
    for (let j = 0; j < got.length; j++) expect(Math.abs(got[j]! - w[k][j]!)).toBeLessThan(tol);
  });
  for (const [a, b] of losses) expect(Math.abs(a - b)).toBeLessThan(tol);
  expect(losses[9]![0]).toBeLessThan(losses[0]![0]);
}

describe('AdamW golden', () => {
  it('10 steps on a fixed 2-layer net equal the by-hand float64 AdamW (float64 reference backend)', () => {
    golden(new ReferenceBackend({ precision: 'float64' }), 1e-9);
  });
  it('and agree to float32 precision on the default backend', () => {
    golden(undefined, 2e-5);
  });
});

describe('optimisers', () => {
  it('Adam adds L2 decay to the gradient, AdamW decays the weights directly', () => {
    const run = (Opt: typeof Adam | typeof AdamW) => {
      const p = tensor([1.0, -2.0], { requiresGrad: true });
      const opt = new Opt([p], { lr: 0.1, weightDecay: 0.5 });
      p.grad = tensor([0.5, 0.5]);
      opt.step();
      return Array.from(p.toArray());
    };
    // step 1: m_hat = g', v_hat = g'^2 -> update lr * sign(g')
    const adam = run(Adam); // g' = g + wd p = [1.0, -0.5]
    expect(adam[0]).toBeCloseTo(1 - 0.1, 6);
    expect(adam[1]).toBeCloseTo(-2 + 0.1, 6);
    const adamw = run(AdamW); // p *= 1 - lr wd, then -= lr * sign(g)
    expect(adamw[0]).toBeCloseTo(1 * 0.95 - 0.1, 6);
    expect(adamw[1]).toBeCloseTo(-2 * 0.95 - 0.1, 6);
    expect(new AdamW([tensor([1], { requiresGrad: true })]).paramGroups[0]).toMatchObject({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 });
  });

  it('SGD with momentum and nesterov follows torch\'s update', () => {
    for (const nesterov of [false, true]) {
      const p = tensor([1.0], { requiresGrad: true });
      const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov });
      let pv = 1.0;
      let buf: number | null = null;
      for (let i = 0; i < 3; i++) {
        p.grad = tensor([pv * 2]); // d/dp p^2
        opt.step();
        let d = pv * 2 + 0.01 * pv;
        buf = buf === null ? d : 0.9 * buf + d;
        d = nesterov ? d + 0.9 * buf : buf;
        pv -= 0.1 * d;
        expect(p.item()).toBeCloseTo(pv, 6);
      }
    }
  });

  it('resumes from a saved state exactly (5 + 5 steps = 10 steps)', () => {
    const { x, y } = data();
    const train = (net: Mlp, opt: AdamW, steps: number) => {
      for (let i = 0; i < steps; i++) {
        opt.zeroGrad();
        mseLoss(net.forward(x), y).backward();
        opt.step();
      }
    };
    const straight = new Mlp();
    train(straight, new AdamW(straight.parameters(), { lr: 0.02 }), 10);
    const first = new Mlp();
    const opt1 = new AdamW(first.parameters(), { lr: 0.02 });
    train(first, opt1, 5);
    const saved = opt1.stateDict();
    expect([...saved.tensors.keys()]).toContain('state.3.exp_avg_sq');
    expect(saved.meta.steps['0']).toBe(5);
    const resumed = new Mlp();
    resumed.loadStateDict(first.stateDict());
    const opt2 = new AdamW(resumed.parameters(), { lr: 0.5 });
    // the metadata survives a JSON round trip (it is what a checkpoint stores next to the tensors)
    opt2.loadStateDict({ tensors: saved.tensors, meta: JSON.parse(JSON.stringify(saved.meta)) });
    expect(opt2.lrs).toEqual([0.02]);
    train(resumed, opt2, 5);
    for (const [k, t] of straight.stateDict()) expect(Array.from(resumed.stateDict().get(k)!.toArray())).toEqual(Array.from(t.toArray()));
    expect(() => new SGD(resumed.parameters()).loadStateDict(saved)).toThrow(/saved by AdamW/);
  });

  it('gradient accumulation: two half-batches with loss/2 give the full-batch gradient', () => {
    const { x, y } = data();
    const full = new Mlp();
    mseLoss(full.forward(x.slice(0, 0, 4)), y.slice(0, 0, 4)).backward();
    const acc = new Mlp();
    for (const [a, b] of [[0, 2], [2, 4]] as const) mseLoss(acc.forward(x.slice(0, a, b)), y.slice(0, a, b)).div(2).backward();
    const fg = full.parameters().map((p) => p.grad!.toArray());
    acc.parameters().forEach((p, i) => p.grad!.toArray().forEach((v, j) => expect(v).toBeCloseTo(fg[i]![j]!, 6)));
  });

  it('clipGradNorm scales to the max norm and returns the norm before clipping', () => {
    const a = tensor([3, 0], { requiresGrad: true });
    const b = tensor([4], { requiresGrad: true });
    a.grad = tensor([3, 0]);
    b.grad = tensor([4]);
    expect(clipGradNorm([a, b], 1)).toBeCloseTo(5, 6);
    expect(gradNorm([a, b])).toBeCloseTo(1, 5);
    expect(Array.from(b.grad.toArray())[0]).toBeCloseTo(0.8, 5);
    expect(clipGradNorm([a, b], 10)).toBeCloseTo(1, 5); // no change when under the limit
    expect(b.grad.item()).toBeCloseTo(0.8, 5);
    b.grad = tensor([NaN]);
    expect(() => clipGradNorm([a, b], 1, { errorIfNonfinite: true })).toThrow(/norm is NaN/);
  });

  it('parameters and optimiser state are marked long-lived on their backend (Backend.keep), so a tidy() around a step keeps them', () => {
    const kept = new Set<unknown>();
    const backend = new ReferenceBackend();
    (backend as Backend).keep = (st) => kept.add(st);
    const { x, y } = data(backend);
    for (const make of [(ps: Tensor[]) => new AdamW(ps), (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9 })]) {
      const net = new Mlp(backend);
      const opt = make(net.parameters());
      for (let i = 0; i < 2; i++) {
        opt.zeroGrad();
        mseLoss(net.forward(x), y).backward();
        kept.clear();
        opt.step();
        const state = [...opt.stateDict().tensors.values()];
        expect(state.length).toBe(opt instanceof AdamW ? 8 : 4);
        expect([...kept]).toEqual(expect.arrayContaining([...net.parameters(), ...state].map((t) => t.storage)));
        expect(kept.size).toBe(4 + state.length);
      }
    }
    const p = tensor([1, 2], { backend });
    kept.clear();
    p.setData(tensor([3, 4], { backend }));
    expect([...kept]).toEqual([p.storage]);
  });

  it('gradNorm: the max-abs norm, 0 without gradients, and one readback for all parameters', () => {
    let reads = 0;
    const backend = new (class extends ReferenceBackend {
      override read(s: Parameters<ReferenceBackend['read']>[0]) {
        reads++;
        return super.read(s);
      }
    })();
    const ps = [tensor([3, -7], { backend }), tensor([4], { backend }), tensor([1], { backend })];
    ps[0]!.grad = tensor([3, -7], { backend });
    ps[1]!.grad = tensor([4], { backend });
    expect(gradNorm(ps, 'inf')).toBe(7);
    expect(reads).toBe(1);
    expect(gradNorm(ps)).toBeCloseTo(Math.sqrt(74), 5);
    expect(reads).toBe(2);
    expect(gradNorm([ps[2]!])).toBe(0);
  });
});

describe('LR schedules', () => {
  it('have the diffusers shapes', () => {
    expect(lrLambda('constant')(100)).toBe(1);
    const cw = lrLambda('constant_with_warmup', { warmupSteps: 4 });
    expect([0, 2, 4, 50].map(cw)).toEqual([0, 0.5, 1, 1]);
    const lin = lrLambda('linear', { warmupSteps: 2, totalSteps: 10 });
    expect([0, 1, 2, 6, 10, 12].map(lin)).toEqual([0, 0.5, 1, 0.5, 0, 0]);
    const cos = lrLambda('cosine', { warmupSteps: 0, totalSteps: 10 });
    expect(cos(0)).toBeCloseTo(1);
    expect(cos(5)).toBeCloseTo(0.5);
    expect(cos(10)).toBeCloseTo(0);
    expect(() => lrLambda('linear')).toThrow(/totalSteps/);
  });
  it('drive the optimiser lr and resume', () => {
    const opt = new SGD([tensor([1], { requiresGrad: true })], { lr: 0.4 });
    const sched = new LRScheduler(opt, 'linear', { warmupSteps: 2, totalSteps: 6 });
    const lrs = [sched.lr];
    for (let i = 0; i < 6; i++) { sched.step(); lrs.push(sched.lr); }
    expect(lrs.map((v) => +v.toFixed(6))).toEqual([0, 0.2, 0.4, 0.3, 0.2, 0.1, 0]);
    const again = new LRScheduler(new SGD([tensor([1], { requiresGrad: true })], { lr: 0.4 }), 'linear', { warmupSteps: 2, totalSteps: 6 });
    again.loadStateDict({ lastStep: 3, baseLrs: [0.4] });
    expect(again.lr).toBeCloseTo(0.3);
  });
});

describe('hyper-parameters', () => {
  const params = () => new Linear(2, 2, { seed: 5 }).parameters();
  it('optimisers refuse non-finite ones at construction', () => {
    expect(() => new AdamW(params(), { lr: Infinity })).toThrow(/AdamW: lr must be a finite number >= 0, got Infinity/);
    expect(() => new Adam(params(), { betas: [NaN, 0.999] })).toThrow(/betas must be in \[0, 1\), got NaN/);
    expect(() => new AdamW(params(), { eps: NaN })).toThrow(/eps must be/);
    expect(() => new AdamW(params(), { weightDecay: Infinity })).toThrow(/weightDecay must be/);
    expect(() => new SGD(params(), { lr: NaN })).toThrow(/SGD: lr must be a finite number/);
    expect(() => new SGD(params(), { momentum: Infinity })).toThrow(/SGD: momentum/);
  });
  it('and at every step (a group changed after construction, a schedule gone wrong)', () => {
    const ps = params();
    const opt = new AdamW([{ params: [ps[0]!] }, { params: [ps[1]!] }], { lr: 0.1 });
    ps.forEach((p) => { p.grad = p.zerosLike(); });
    opt.paramGroups[1]!.lr = Infinity;
    const before = Array.from(ps[0]!.toArray());
    expect(() => opt.step()).toThrow(/lr must be a finite number >= 0, got Infinity \(parameter group 1\)/);
    expect(Array.from(ps[0]!.toArray())).toEqual(before); // refused before anything moved
    const opt2 = new SGD(params(), { lr: 0.1 });
    const sched = new LRScheduler(opt2, (s) => (s < 1 ? 1 : NaN));
    expect(() => sched.step()).toThrow(/non-finite lr multiplier \(NaN\) at step 1/);
  });
});

