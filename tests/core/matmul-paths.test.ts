/**
 * matmul's fast paths: a Linear-style [..., m, k] @ w.mT folds the batch axes into one 2-D
 * product (no per-batch copy of the weight), and the gradient of a transposed operand is made
 * transposed so it reaches the weight dense. Values and gradients match finite differences.
 */
import { describe, expect, it } from 'vitest';
import { ReferenceBackend, gradcheck, randn } from '../../core/index.ts';

describe('matmul fast paths', () => {
  it('x [2, 3, 4] @ w.mT: right values and gradients (float64 finite differences)', () => {
    const f64 = new ReferenceBackend({ precision: 'float64' });
    const x = randn([2, 3, 4], { backend: f64, seed: 1 });
    const w = randn([5, 4], { backend: f64, seed: 2 });
    expect(gradcheck((a, b) => a.matmul(b.mT).square().sum(), [x, w])).toBeNull();
    const c = randn([3, 5], { backend: f64, seed: 5 });
    expect(gradcheck((a, b) => a.mT.matmul(b).square().sum(), [x.select(0, 1), c])).toBeNull(); // a transposed left operand
    const xs = x.toFloat64Array();
    const ws = w.toFloat64Array();
    const y = x.matmul(w.mT);
    expect(y.shape).toEqual([2, 3, 5]);
    const got = y.toFloat64Array();
    for (let r = 0; r < 6; r++) for (let o = 0; o < 5; o++) {
      let acc = 0;
      for (let i = 0; i < 4; i++) acc += xs[r * 4 + i]! * ws[o * 4 + i]!;
      expect(got[r * 5 + o]).toBeCloseTo(acc, 12);
    }
  });

  it('one 2-D product forward, two backward, and no copies: the weight gradient arrives dense', () => {
    const backend = new ReferenceBackend();
    const calls: string[] = [];
    for (const name of ['matmul', 'copy', 'reduceRows'] as const) {
      const kernel = backend[name].bind(backend) as (...a: unknown[]) => unknown;
      (backend as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
        calls.push(name);
        return kernel(...args);
      };
    }
    const x = randn([4, 16, 8], { backend, seed: 3 }).requiresGrad_();
    const w = randn([6, 8], { backend, seed: 4 }).requiresGrad_();
    const r = randn([4, 16, 6], { backend, seed: 5 });
    const loss = x.matmul(w.mT).mul(r).sum(); // mul: the gradient reaching matmul is dense, as in a network
    expect(calls).toEqual(['matmul', 'reduceRows']);
    calls.length = 0;
    loss.backward();
    expect(calls).toEqual(['matmul', 'matmul']);
    expect(w.grad!.isContiguous()).toBe(true);
    expect(w.grad!.shape).toEqual([6, 8]);
  });
});
