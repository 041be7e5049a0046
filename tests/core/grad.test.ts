/**
 * Every op's gradient against central finite differences in float64, over random shapes
 * (size-1 and broadcast dimensions included) drawn by fast-check.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import * as T from '../../core/index.ts';
import { RUNS, broadcastPairArb, expectGrad, rnd, seedArb, shapeArb } from './helpers.ts';

const positive = (x: T.Tensor) => x.abs().add(0.5);

describe('elementwise unary gradients', () => {
  const cases: [string, (x: T.Tensor) => T.Tensor][] = [
    ['neg', (x) => x.neg()],
    ['exp', (x) => x.exp()],
    ['log', (x) => positive(x).log()],
    ['sqrt', (x) => positive(x).sqrt()],
    ['rsqrt', (x) => positive(x).rsqrt()],
    ['tanh', (x) => x.tanh()],
    ['sigmoid', (x) => x.sigmoid()],
    ['silu', (x) => x.silu()],
    ['gelu (erf)', (x) => x.gelu()],
    ['gelu (tanh)', (x) => x.gelu('tanh')],
    ['relu', (x) => x.relu()],
    ['abs', (x) => x.abs()],
    ['sin', (x) => x.sin()],
    ['cos', (x) => x.cos()],
    ['square', (x) => x.square()],
    ['clamp', (x) => x.clamp(-0.5, 0.7)],
  ];
  for (const [name, f] of cases) {
    it(name, () => {
      fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => expectGrad(f, [rnd(shape, seed)])), RUNS);
    });
  }
});

describe('broadcasting binary gradients', () => {
  const cases: [string, (a: T.Tensor, b: T.Tensor) => T.Tensor][] = [
    ['add', (a, b) => a.add(b)],
    ['sub', (a, b) => a.sub(b)],
    ['mul', (a, b) => a.mul(b)],
    ['div', (a, b) => a.div(positive(b))],
    ['pow', (a, b) => positive(a).pow(b)],
    ['maximum', (a, b) => a.maximum(b)],
    ['minimum', (a, b) => a.minimum(b)],
    ['where', (a, b) => T.where(a.gt(b), a.mul(2), b.exp())],
  ];
  for (const [name, f] of cases) {
    it(name, () => {
      fc.assert(
        fc.property(broadcastPairArb(), seedArb, ([sa, sb], seed) => expectGrad(f, [rnd(sa, seed), rnd(sb, seed + 1)])),
        RUNS,
      );
    });
  }
  it('scalar operands', () => {
    fc.assert(
      fc.property(shapeArb(), seedArb, (s, seed) =>
        expectGrad((x) => x.mul(3).add(1).sub(2).div(4).pow(2), [rnd(s, seed)]),
      ),
      RUNS,
    );
  });
});

/** Random non-empty subsets of the axes of a shape of rank >= 1. */
const shapeAndAxes = shapeArb(4, 4)
  .filter((s) => s.length > 0)
  .chain((s) => fc.tuple(fc.constant(s), fc.subarray(s.map((_, i) => i), { minLength: 1 }), fc.boolean()));

describe('reduction gradients', () => {
  const cases: [string, (x: T.Tensor, axes: number[], keep: boolean) => T.Tensor][] = [
    ['sum', (x, a, k) => x.sum(a, k)],
    ['mean', (x, a, k) => x.mean(a, k)],
    ['max', (x, a, k) => x.max(a, k)],
    ['min', (x, a, k) => x.min(a, k)],
    ['var', (x, a, k) => x.var(a, { keepdim: k, correction: 0 })],
  ];
  for (const [name, f] of cases) {
    it(name, () => {
      fc.assert(fc.property(shapeAndAxes, seedArb, ([s, axes, keep], seed) => expectGrad((x) => f(x, axes, keep), [rnd(s, seed)])), RUNS);
    });
  }
  it('full reductions', () => {
    expectGrad((x) => x.sum().add(x.mean()).add(x.max()).add(x.var()), [rnd([3, 4], 9)]);
  });
});

describe('matmul gradient', () => {
  it('batched with broadcasting and 1-D promotion', () => {
    const arb = fc.record({
      m: fc.integer({ min: 1, max: 4 }),
      k: fc.integer({ min: 1, max: 4 }),
      n: fc.integer({ min: 1, max: 4 }),
      batchA: shapeArb(2, 3),
      dropB: fc.boolean(),
      vecA: fc.boolean(),
      vecB: fc.boolean(),
      seed: seedArb,
    });
    fc.assert(
      fc.property(arb, ({ m, k, n, batchA, dropB, vecA, vecB, seed }) => {
        const batchB = dropB ? batchA.slice(1) : batchA.map((d, i) => (i === 0 ? 1 : d));
        const a = vecA ? rnd([k], seed) : rnd([...batchA, m, k], seed);
        const b = vecB ? rnd([k], seed + 1) : rnd([...batchB, k, n], seed + 1);
        expectGrad((x, y) => x.matmul(y), [a, b]);
      }),
      RUNS,
    );
  });
  it('transposed operands are read without copies and still differentiate', () => {
    expectGrad((x, y) => x.mT.matmul(y.mT), [rnd([2, 4, 3], 1), rnd([2, 5, 4], 2)]);
  });
});

describe('conv2d gradient', () => {
  it('stride, padding, dilation and groups', () => {
    const arb = fc.record({
      n: fc.integer({ min: 1, max: 2 }),
      groups: fc.integer({ min: 1, max: 2 }),
      cpg: fc.integer({ min: 1, max: 2 }),
      opg: fc.integer({ min: 1, max: 2 }),
      h: fc.integer({ min: 3, max: 6 }),
      w: fc.integer({ min: 3, max: 6 }),
      k: fc.integer({ min: 1, max: 3 }),
      stride: fc.integer({ min: 1, max: 2 }),
      pad: fc.integer({ min: 0, max: 1 }),
      dil: fc.integer({ min: 1, max: 2 }),
      bias: fc.boolean(),
      seed: seedArb,
    });
    fc.assert(
      fc.property(arb, (p) => {
        fc.pre((p.k - 1) * p.dil + 1 <= Math.min(p.h, p.w) + 2 * p.pad);
        const x = rnd([p.n, p.groups * p.cpg, p.h, p.w], p.seed);
        const w = rnd([p.groups * p.opg, p.cpg, p.k, p.k], p.seed + 1);
        const b = rnd([p.groups * p.opg], p.seed + 2);
        const opts = { stride: p.stride, padding: p.pad, dilation: p.dil, groups: p.groups };
        if (p.bias) expectGrad((xx, ww, bb) => T.conv2d(xx, ww, bb, opts), [x, w, b]);
        else expectGrad((xx, ww) => T.conv2d(xx, ww, null, opts), [x, w]);
      }),
      { numRuns: 15 },
    );
  });
});

describe('spatial, norm and softmax gradients', () => {
  it('upsampleNearest2d', () => {
    expectGrad((x) => T.upsampleNearest2d(x, [2, 3]), [rnd([1, 2, 3, 2], 1)]);
  });
  it('avgPool2d with padding, both divisor rules', () => {
    expectGrad((x) => T.avgPool2d(x, 3, { stride: 2, padding: 1 }), [rnd([2, 1, 5, 4], 2)]);
    expectGrad((x) => T.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }), [rnd([2, 1, 5, 4], 3)]);
  });
  it('groupNorm with affine', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), seedArb, (g, cpg, hw, seed) => {
        const c = g * cpg;
        expectGrad((x, w, b) => T.groupNorm(x, g, w, b, 1e-5), [rnd([2, c, hw, 2], seed), rnd([c], seed + 1), rnd([c], seed + 2)]);
      }),
      { numRuns: 10 },
    );
  });
  it('layerNorm with affine over one and two trailing axes', () => {
    expectGrad((x, w, b) => T.layerNorm(x, [5], w, b), [rnd([3, 5], 4), rnd([5], 5), rnd([5], 6)]);
    expectGrad((x, w, b) => T.layerNorm(x, [2, 3], w, b), [rnd([2, 2, 3], 7), rnd([2, 3], 8), rnd([2, 3], 9)]);
  });
  it('softmax and logSoftmax along any axis', () => {
    fc.assert(
      fc.property(shapeArb(3, 4).filter((s) => s.length > 0), seedArb, fc.nat(), fc.boolean(), (s, seed, ax, log) => {
        const axis = ax % s.length;
        expectGrad((x) => (log ? x.logSoftmax(axis) : x.softmax(axis)), [rnd(s, seed)]);
      }),
      RUNS,
    );
  });
});

describe('layout op gradients', () => {
  it('reshape, permute, transpose, expand, squeeze, unsqueeze, flatten', () => {
    const x = rnd([2, 1, 3], 1);
    expectGrad((t) => t.reshape([3, 2]).mul(t.reshape([3, 2])), [x]);
    expectGrad((t) => t.permute([2, 0, 1]).mul(T.arange(6, undefined, 1, { backend: t.backend }).reshape([3, 2, 1])), [x]);
    expectGrad((t) => t.transpose(0, 2).square(), [x]);
    expectGrad((t) => t.expand([4, 2, 5, 3]).square(), [x]);
    expectGrad((t) => t.squeeze().unsqueeze(0).flatten().square(), [x]);
  });
  it('slice with steps, select', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: -7, max: 7 }), fc.integer({ min: -7, max: 8 }), fc.integer({ min: 1, max: 3 }), seedArb, (d, s, e, step, seed) => {
        expectGrad((t) => t.slice(1, s, e, step).square(), [rnd([2, d], seed)]);
      }),
      RUNS,
    );
    expectGrad((t) => t.select(1, -1).square(), [rnd([2, 3, 2], 3)]);
  });
  it('concat, stack, split, chunk, pad', () => {
    const a = rnd([2, 3], 1);
    const b = rnd([2, 1], 2);
    expectGrad((x, y) => T.concat([x, y, x], 1).square(), [a, b]);
    expectGrad((x) => T.stack([x, x.mul(2)], 1).square(), [a]);
    expectGrad((x) => { const [p, q] = T.split(x, [1, 2], 1); return p!.mul(q!.sum(1, true)); }, [a]);
    expectGrad((x) => T.chunk(x, 2, 1)[1]!.square(), [a]);
    expectGrad((x) => T.pad(x, [1, 2, 0, 1], 0.5).square(), [a]);
  });
  it('contiguous and clone pass the gradient through', () => {
    expectGrad((t) => t.mT.contiguous().clone().square(), [rnd([3, 2], 4)]);
  });
});

describe('embedding, dropout and loss gradients', () => {
  it('embedding with repeated indices', () => {
    const idx = T.tensor([[0, 2], [2, 2]], { backend: rnd([1], 0).backend });
    expectGrad((w) => T.embedding(idx, w).square(), [rnd([3, 4], 1)]);
  });
  it('dropout with a fixed seed', () => {
    expectGrad((x) => T.dropout(x, 0.3, { seed: 7 }), [rnd([4, 5], 2)]);
  });
  it('mse and l1', () => {
    expectGrad((a, b) => T.mseLoss(a, b), [rnd([3, 4], 1), rnd([3, 4], 2)]);
    expectGrad((a, b) => T.l1Loss(a, b, 'sum'), [rnd([3, 4], 3), rnd([3, 4], 4)]);
    expectGrad((a, b) => T.mseLoss(a, b, 'none'), [rnd([2, 2], 5), rnd([2, 2], 6)]);
  });
});
