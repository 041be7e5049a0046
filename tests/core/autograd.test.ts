/** The tape: accumulation, fan-out, noGrad, detach, freeing, retainGraph, retainGrad. */
import { describe, expect, it } from 'vitest';
import * as T from '../../core/index.ts';

describe('autograd', () => {
  it('fan-out sums the gradients of every use', () => {
    const x = T.tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(x).add(x.mul(3)).sum(); // d/dx = 2x + 3
    y.backward();
    expect(Array.from(x.grad!.toArray())).toEqual([5, 7, 9]);
  });

  it('gradients accumulate across backward calls until zeroGrad', () => {
    const w = T.tensor([2], { requiresGrad: true });
    w.mul(3).sum().backward();
    w.mul(3).sum().backward();
    expect(w.grad!.item()).toBe(6);
    w.zeroGrad();
    expect(w.grad).toBeNull();
  });

  it('only leaves keep .grad, unless retainGrad() is asked', () => {
    const x = T.tensor([1, 2], { requiresGrad: true });
    const h = x.mul(2);
    const k = x.mul(3).retainGrad();
    h.add(k).sum().backward();
    expect(h.grad).toBeNull();
    expect(Array.from(k.grad!.toArray())).toEqual([1, 1]);
    expect(x.isLeaf).toBe(true);
    expect(h.isLeaf).toBe(false);
  });

  it('noGrad records nothing; detach cuts the graph', () => {
    const x = T.tensor([1, 2], { requiresGrad: true });
    const y = T.noGrad(() => x.mul(2));
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    const m = x.mul(2);
    const z = m.detach();
    expect(z.requiresGrad).toBe(false);
    expect(z.storage).toBe(m.storage);
    const w = x.mul(z).sum();
    w.backward();
    expect(Array.from(x.grad!.toArray())).toEqual([2, 4]);
    expect(T.isGradEnabled()).toBe(true);
  });

  it('inputs that do not require grad get none, and are not traversed', () => {
    const a = T.tensor([1, 2], { requiresGrad: true });
    const b = T.tensor([3, 4]);
    a.mul(b).sum().backward();
    expect(b.grad).toBeNull();
    expect(Array.from(a.grad!.toArray())).toEqual([3, 4]);
  });

  it('the graph is freed after backward; retainGraph keeps it', () => {
    const x = T.tensor([1, 2], { requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    expect(() => y.backward()).toThrow(/second time.*retainGraph/);
    const z = x.square().sum();
    z.backward(undefined, { retainGraph: true });
    z.backward();
    expect(x.grad!.toArray()[0]).toBeCloseTo(Math.E + 2 + 2, 5);
  });

  it('backward of a non-scalar needs an explicit gradient of its shape', () => {
    const x = T.tensor([1, 2], { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.backward()).toThrow(/single-element output, got shape \[2\]/);
    expect(() => y.backward(T.ones([3]))).toThrow(/gradient shape \[3\] does not match the output shape \[2\]/);
    const f64 = new T.ReferenceBackend({ precision: 'float64' });
    expect(() => y.backward(T.ones([2], { backend: f64 }))).toThrow("backward: the gradient lives on backend 'reference-f64', the output on 'reference'");
    y.backward(T.tensor([1, 10]));
    expect(Array.from(x.grad!.toArray())).toEqual([2, 20]);
  });

  it('a long chain does not overflow the stack (iterative traversal)', () => {
    const x = T.tensor([1], { requiresGrad: true });
    let y = x;
    for (let i = 0; i < 20000; i++) y = y.add(1);
    y.sum().backward();
    expect(x.grad!.item()).toBe(1);
  });

  it('a user-defined op with attach() takes part in backward', () => {
    const cube = (x: T.Tensor) =>
      T.attach(T.noGrad(() => x.mul(x).mul(x)), 'cube', [x], (gy) => [gy.mul(x.square().mul(3))]);
    const x = T.tensor([2], { requiresGrad: true });
    cube(x).sum().backward();
    expect(x.grad!.item()).toBe(12);
  });

  it('trains a tiny linear model by hand (the docs example)', () => {
    const xs = T.randn([64, 3], { seed: 1 });
    const ys = xs.matmul(T.tensor([[2], [-1], [0.5]])).add(0.3);
    const w = T.zeros([3, 1], { requiresGrad: true });
    const b = T.zeros([1], { requiresGrad: true });
    let loss = Infinity;
    for (let step = 0; step < 200; step++) {
      const l = T.mseLoss(xs.matmul(w).add(b), ys);
      w.zeroGrad();
      b.zeroGrad();
      l.backward();
      loss = l.item();
      T.noGrad(() => {
        w.setData(w.sub(w.grad!.mul(0.1)));
        b.setData(b.sub(b.grad!.mul(0.1)));
      });
    }
    expect(loss).toBeLessThan(1e-6);
    expect(Array.from(w.toArray()).map((v) => Number(v.toFixed(3)))).toEqual([2, -1, 0.5]);
    expect(b.item()).toBeCloseTo(0.3, 3);
  });

  it('pow at 0 follows torch: a zero exponent has gradient 0 (not NaN), and so does 0^b in b for b >= 0', () => {
    const x = T.tensor([0, 2, 0], { requiresGrad: true });
    const e = T.tensor([0, 0, 2], { requiresGrad: true });
    x.pow(e).sum().backward();
    expect(Array.from(x.grad!.toArray())).toEqual([0, 0, 0]);
    expect(Array.from(e.grad!.toArray())).toEqual([0, Math.fround(Math.log(2)), 0]);
    const y = T.tensor([0, 3], { requiresGrad: true });
    y.pow(0).sum().backward();
    expect(Array.from(y.grad!.toArray())).toEqual([0, 0]);
  });

  it('setData rebinds leaves only, with matching shapes', () => {
    const w = T.zeros([2], { requiresGrad: true });
    expect(() => w.setData(T.ones([3]))).toThrow(/shape \[3\] cannot replace a tensor of shape \[2\]/);
    expect(() => w.mul(2).setData(T.ones([2]))).toThrow(/only leaf tensors/);
    w.setData(T.ones([2]));
    expect(Array.from(w.toArray())).toEqual([1, 1]);
  });
});
