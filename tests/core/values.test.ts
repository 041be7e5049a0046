/** Algebraic properties and known values of the ops on the float32 reference backend. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../../core/index.ts';
import { RUNS, broadcastPairArb, expectClose, seedArb, shapeArb } from './helpers.ts';

const r32 = (shape: readonly number[], seed: number) => T.randn(shape, { seed });

describe('creation', () => {
  it('tensor from nested arrays, typed arrays and shapes', () => {
    const t = T.tensor([[1, 2, 3], [4, 5, 6]]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.tolist()).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(T.tensor(new Int32Array([1, 2, 3, 4]), [2, 2]).tolist()).toEqual([[1, 2], [3, 4]]);
    expect(T.tensor(5).shape).toEqual([]);
    expect(T.tensor(5).item()).toBe(5);
    expect(T.tensor([]).shape).toEqual([0]);
  });
  it('zeros, ones, full, arange', () => {
    expect(Array.from(T.zeros([2, 2]).toArray())).toEqual([0, 0, 0, 0]);
    expect(Array.from(T.ones([3]).toArray())).toEqual([1, 1, 1]);
    expect(Array.from(T.full([2], 7.5).toArray())).toEqual([7.5, 7.5]);
    expect(Array.from(T.arange(5).toArray())).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(T.arange(1, 2, 0.25).toArray())).toEqual([1, 1.25, 1.5, 1.75]);
    expect(Array.from(T.arange(3, 0, -1).toArray())).toEqual([3, 2, 1]);
  });
  it('seeded random tensors repeat exactly and differ across seeds', () => {
    expect(T.randn([100], { seed: 3 }).toArray()).toEqual(T.randn([100], { seed: 3 }).toArray());
    expect(T.randn([100], { seed: 3 }).toArray()).not.toEqual(T.randn([100], { seed: 4 }).toArray());
    const f64 = new T.ReferenceBackend({ precision: 'float64' });
    // Same draw on another backend (random numbers are made on the host).
    expectClose(T.randn([50], { seed: 9, backend: f64 }).toArray(), T.randn([50], { seed: 9 }).toArray(), 1e-7);
  });
  it('randn and rand have the right moments; randint stays in range', () => {
    const n = T.randn([20000], { seed: 1 });
    expect(Math.abs(n.mean().item())).toBeLessThan(0.03);
    expect(Math.abs(n.var().item() - 1)).toBeLessThan(0.04);
    const u = T.rand([20000], { seed: 2, low: -1, high: 3 });
    expect(u.min().item()).toBeGreaterThanOrEqual(-1);
    expect(u.max().item()).toBeLessThan(3);
    expect(Math.abs(u.mean().item() - 1)).toBeLessThan(0.05);
    const k = T.randint(0, 1000, [5000], { seed: 3 }).toArray();
    expect(k.every((v) => Number.isInteger(v) && v >= 0 && v < 1000)).toBe(true);
  });
  it('Generator.int reaches every integer of a range wider than 2^24 (not only multiples of range / 2^24)', () => {
    const g = new T.Generator(5);
    const draws = Array.from({ length: 2000 }, () => g.int(0, 2 ** 40));
    expect(draws.every((v) => Number.isInteger(v) && v >= 0 && v < 2 ** 40)).toBe(true);
    expect(draws.filter((v) => v % 2 ** 16 !== 0).length).toBeGreaterThan(1900);
    const mean = draws.reduce((a, b) => a + b, 0) / draws.length / 2 ** 40;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
    const small = new T.Generator(5);
    const again = new T.Generator(5);
    expect(Array.from({ length: 50 }, () => small.int(3, 1003))).toEqual(Array.from({ length: 50 }, () => 3 + Math.floor(again.uniform() * 1000)));
  });
  it('a Generator continues where its saved state left off', () => {
    const g = new T.Generator(42);
    g.normal();
    const state = g.getState();
    const a = T.randn([7], { generator: g }).toArray();
    const b = T.randn([7], { generator: new T.Generator(0).setState(state) }).toArray();
    expect(a).toEqual(b);
  });
});

describe('views', () => {
  it('reshape and permute round trips give the input back', () => {
    fc.assert(
      fc.property(shapeArb(4, 4), seedArb, (s, seed) => {
        const x = r32(s, seed);
        const perm = s.map((_, i) => i).reverse();
        const inv = perm.map((_, i) => perm.indexOf(i));
        expect(x.permute(perm).permute(inv).toArray()).toEqual(x.toArray());
        expect(x.reshape([-1]).reshape(s).toArray()).toEqual(x.toArray());
        expect(x.permute(perm).contiguous().permute(inv).toArray()).toEqual(x.toArray());
      }),
      RUNS,
    );
  });
  it('views share storage; reshape of a non-viewable layout copies', () => {
    const x = T.arange(6).reshape([2, 3]);
    expect(x.transpose(0, 1).storage).toBe(x.storage);
    expect(x.slice(1, 1).storage).toBe(x.storage);
    expect(x.expand([4, 2, 3]).storage).toBe(x.storage);
    const t = x.mT;
    expect(t.reshape([6]).storage).not.toBe(x.storage);
    expect(Array.from(t.reshape([6]).toArray())).toEqual([0, 3, 1, 4, 2, 5]);
    expect(() => t.view([6])).toThrow(/view: .*cannot be viewed.*use reshape/);
  });
  it('reading a view releases the dense copy it reads through; reading a dense tensor copies nothing', () => {
    const copies: T.Storage[] = [];
    const disposed: T.Storage[] = [];
    const backend = new (class extends T.ReferenceBackend {
      override copy(view: T.StridedView) {
        const s = super.copy(view);
        copies.push(s);
        return s;
      }
      override dispose(s: T.Storage) {
        disposed.push(s);
      }
    })();
    const x = T.arange(6, undefined, 1, { backend }).reshape([2, 3]);
    expect(x.mT.toArray()).toEqual(new Float32Array([0, 3, 1, 4, 2, 5]));
    expect(x.mT.tolist()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(x.select(0, 1).select(0, 2).item()).toBe(5);
    expect(copies.length).toBe(3);
    expect(disposed).toEqual(copies);
    expect(Array.from(x.toFloat64Array())).toEqual([0, 1, 2, 3, 4, 5]);
    expect(copies.length).toBe(3);
    expect(disposed.length).toBe(3);
  });
  it('slice follows Python rules', () => {
    const x = T.arange(10);
    expect(Array.from(x.slice(0, 2, 8, 3).toArray())).toEqual([2, 5]);
    expect(Array.from(x.slice(0, -3).toArray())).toEqual([7, 8, 9]);
    expect(Array.from(x.slice(0, 5, 2).toArray())).toEqual([]);
    expect(x.select(0, -1).item()).toBe(9);
  });
  it('split and chunk tile the axis; stack adds one', () => {
    const x = T.arange(7);
    expect(T.split(x, 3).map((p) => p.shape[0])).toEqual([3, 3, 1]);
    expect(T.chunk(x, 3).map((p) => p.shape[0])).toEqual([3, 3, 1]);
    expect(T.concat(T.split(x, [2, 5])).toArray()).toEqual(x.toArray());
    expect(T.stack([x, x], 1).shape).toEqual([7, 2]);
  });
  it('pad uses torch order (last axis first)', () => {
    const x = T.ones([1, 2]);
    expect(T.pad(x, [1, 0, 0, 1]).tolist()).toEqual([[0, 1, 1], [0, 0, 0]]);
  });
});

describe('broadcasting laws', () => {
  it('a + b equals the explicitly expanded sum, and is commutative', () => {
    fc.assert(
      fc.property(broadcastPairArb(), seedArb, ([sa, sb], seed) => {
        const a = r32(sa, seed);
        const b = r32(sb, seed + 1);
        const s = T.broadcastShapes('test', sa, sb);
        const viaExpand = a.expand(s).contiguous().add(b.expand(s).contiguous());
        expect(a.add(b).toArray()).toEqual(viaExpand.toArray());
        expect(a.add(b).toArray()).toEqual(b.add(a).toArray());
        expect(a.mul(b).shape).toEqual(s);
      }),
      RUNS,
    );
  });
  it('sub/div are the inverses of add/mul', () => {
    fc.assert(
      fc.property(broadcastPairArb(), seedArb, ([sa, sb], seed) => {
        const a = r32(sa, seed);
        const b = r32(sb, seed + 1).abs().add(0.5);
        const s = T.broadcastShapes('test', sa, sb);
        expectClose(a.add(b).sub(b).toArray(), a.expand(s).contiguous().toArray(), 1e-5);
        expectClose(a.mul(b).div(b).toArray(), a.expand(s).contiguous().toArray(), 1e-5);
      }),
      RUNS,
    );
  });
});

describe('elementwise values', () => {
  it('known values', () => {
    const x = T.tensor([-2, -0.5, 0, 0.5, 2]);
    expectClose(x.relu().toArray(), [0, 0, 0, 0.5, 2]);
    expectClose(x.sigmoid().toArray(), [0.11920292, 0.37754067, 0.5, 0.62245933, 0.88079708]);
    expectClose(x.silu().toArray(), [-0.23840584, -0.18877033, 0, 0.31122967, 1.76159416]);
    // torch.nn.functional.gelu(x) and gelu(x, approximate='tanh')
    expectClose(x.gelu().toArray(), [-0.04550026, -0.15426877, 0, 0.34573123, 1.95449974]);
    expectClose(x.gelu('tanh').toArray(), [-0.04540231, -0.15428599, 0, 0.34571401, 1.95459769]);
    expectClose(x.clamp(-1, 1).toArray(), [-1, -0.5, 0, 0.5, 1]);
    expectClose(x.maximum(0.25).toArray(), [0.25, 0.25, 0.25, 0.5, 2]);
    expectClose(T.where(x.gt(0), x, x.neg()).toArray(), [2, 0.5, 0, 0.5, 2]);
    expect(T.erf(1)).toBeCloseTo(0.8427007929497149, 14);
    expect(T.erf(-3.5)).toBeCloseTo(-0.9999992569016276, 14);
  });
});

describe('reductions', () => {
  it('sum over axes equals a loop; keepdim keeps rank', () => {
    const x = T.arange(24).reshape([2, 3, 4]);
    // sum over a in {0,1}, k in 0..3 of (12a + 4i + k) = 32i + 60
    expect(x.sum([0, 2]).tolist()).toEqual([60, 92, 124]);
    expect(x.sum(1, true).shape).toEqual([2, 1, 4]);
    expect(x.mean().item()).toBeCloseTo(11.5, 6);
    expect(x.max(-1).tolist()).toEqual([[3, 7, 11], [15, 19, 23]]);
    expect(x.min([0, 1]).tolist()).toEqual([0, 1, 2, 3]);
  });
  it('var: unbiased by default, population with correction 0', () => {
    const x = T.tensor([1, 2, 3, 4]);
    expect(x.var().item()).toBeCloseTo(5 / 3, 6);
    expect(x.var(0, { correction: 0 }).item()).toBeCloseTo(1.25, 6);
  });
  it('sums accumulate in float64 (no drift over a long row)', () => {
    const x = T.full([1_000_000], 0.1);
    expect(x.sum().item()).toBeCloseTo(100000.0014901161, 2);
  });
});

describe('matmul', () => {
  it('agrees with a naive triple loop, batched and broadcast', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), seedArb, (m, k, n, b, seed) => {
        const A = r32([b, m, k], seed);
        const B = r32([k, n], seed + 1);
        const a = A.toArray();
        const bb = B.toArray();
        const expected: number[] = [];
        for (let q = 0; q < b; q++)
          for (let i = 0; i < m; i++)
            for (let j = 0; j < n; j++) {
              let s = 0;
              for (let p = 0; p < k; p++) s += a[q * m * k + i * k + p]! * bb[p * n + j]!;
              expected.push(s);
            }
        expectClose(A.matmul(B).toArray(), expected, 1e-5);
        expectClose(A.mT.contiguous().mT.matmul(B.mT.contiguous().mT).toArray(), expected, 1e-5);
      }),
      RUNS,
    );
  });
  it('1-D operands: dot product, matrix-vector', () => {
    expect(T.tensor([1, 2, 3]).matmul(T.tensor([4, 5, 6])).item()).toBe(32);
    expect(T.tensor([[1, 2], [3, 4]]).matmul(T.tensor([1, 1])).tolist()).toEqual([3, 7]);
    expect(T.tensor([1, 1]).matmul(T.tensor([[1, 2], [3, 4]])).tolist()).toEqual([4, 6]);
  });
});

describe('conv2d', () => {
  it('an identity kernel is the identity (any padding that keeps the size)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), seedArb, (c, h, w, seed) => {
        const x = r32([2, c, h, w], seed);
        const k = T.zeros([c, c, 3, 3]).toArray();
        for (let i = 0; i < c; i++) k[((i * c + i) * 3 + 1) * 3 + 1] = 1;
        const weight = T.tensor(k, [c, c, 3, 3]);
        expect(T.conv2d(x, weight, null, { padding: 1 }).toArray()).toEqual(x.toArray());
      }),
      RUNS,
    );
  });
  it('a known 2x2 result with bias, stride and groups', () => {
    const x = T.arange(16).reshape([1, 1, 4, 4]);
    const w = T.ones([1, 1, 2, 2]);
    expect(T.conv2d(x, w, T.tensor([1]), { stride: 2 }).tolist()).toEqual([[[[11, 19], [43, 51]]]]);
    const x2 = T.concat([x, x.mul(10)], 1);
    const wg = T.tensor([1, 2], [2, 1, 1, 1]);
    const y = T.conv2d(x2, wg, null, { groups: 2 });
    expect(y.select(1, 1).toArray()).toEqual(x.mul(20).reshape([1, 4, 4]).toArray());
  });
  it('a 1x1 conv equals a matmul over channels', () => {
    const x = r32([2, 3, 4, 5], 1);
    const w = r32([6, 3, 1, 1], 2);
    const viaMatmul = w.reshape([6, 3]).matmul(x.reshape([2, 3, 20])).reshape([2, 6, 4, 5]);
    expectClose(T.conv2d(x, w).toArray(), viaMatmul.toArray(), 1e-5);
  });
});

describe('norms, softmax, pooling', () => {
  it('softmax rows sum to 1, log_softmax = log(softmax), shift invariance', () => {
    fc.assert(
      fc.property(shapeArb(3, 5).filter((s) => s.length > 0), seedArb, (s, seed) => {
        const x = r32(s, seed).mul(5);
        const axis = s.length - 1;
        expectClose(x.softmax(axis).sum(axis).toArray(), new Array(x.size / s[axis]!).fill(1), 1e-6);
        expectClose(x.logSoftmax(0).toArray(), x.softmax(0).log().toArray(), 1e-5);
        expectClose(x.add(100).softmax(axis).toArray(), x.softmax(axis).toArray(), 1e-5);
      }),
      RUNS,
    );
  });
  it('groupNorm gives zero mean and unit variance per group', () => {
    const x = r32([2, 6, 3, 3], 5).mul(4).add(3);
    const y = T.groupNorm(x, 3).reshape([2, 3, 18]);
    expectClose(y.mean(2).toArray(), new Array(6).fill(0), 1e-5);
    expectClose(y.var(2, { correction: 0 }).toArray(), new Array(6).fill(1), 1e-4);
  });
  it('layerNorm matches the formula', () => {
    const x = T.tensor([[1, 2, 3, 6]]);
    const m = 3;
    const v = (4 + 1 + 0 + 9) / 4;
    expectClose(T.layerNorm(x, [4]).toArray(), [1, 2, 3, 6].map((a) => (a - m) / Math.sqrt(v + 1e-5)), 1e-6);
  });
  it('avgPool2d of an upsampled map gives the map back', () => {
    const x = r32([1, 2, 3, 4], 6);
    expectClose(T.avgPool2d(T.upsampleNearest2d(x, 2), 2).toArray(), x.toArray(), 1e-6);
    // count_include_pad false: a corner window of a constant map stays constant.
    expectClose(T.avgPool2d(T.ones([1, 1, 3, 3]), 3, { stride: 1, padding: 1, countIncludePad: false }).toArray(), new Array(9).fill(1));
    expect(T.avgPool2d(T.ones([1, 1, 3, 3]), 3, { stride: 1, padding: 1 }).toArray()[0]).toBeCloseTo(4 / 9, 6);
  });
  it('embedding picks rows', () => {
    const w = T.arange(6).reshape([3, 2]);
    expect(T.embedding(T.tensor([2, 0, 2]), w).tolist()).toEqual([[4, 5], [0, 1], [4, 5]]);
  });
  it('dropout keeps expectation, is seeded, and is the identity in eval', () => {
    const x = T.ones([20000]);
    const y = T.dropout(x, 0.25, { seed: 1 });
    expect(Math.abs(y.mean().item() - 1)).toBeLessThan(0.03);
    expect(y.toArray()).toEqual(T.dropout(x, 0.25, { seed: 1 }).toArray());
    expect(T.dropout(x, 0.25, { training: false })).toBe(x);
  });
  it('losses', () => {
    const a = T.tensor([1, 2, 3]);
    const b = T.tensor([1, 0, 5]);
    expect(T.mseLoss(a, b).item()).toBeCloseTo(8 / 3, 6);
    expect(T.l1Loss(a, b, 'sum').item()).toBe(4);
  });
});
