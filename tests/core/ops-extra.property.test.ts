/**
 * Properties of the ops added for PyTorch users, by fast-check over random shapes and
 * geometries: finite-difference gradients (float64), identities each op must satisfy
 * (conv transpose is conv's adjoint, tril + triu rebuild x, argmax picks the first maximum...),
 * and the errors for bad input. Values against PyTorch itself: ops-golden.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../../core/index.ts';
import { expectClose, expectGrad, f64, rnd, seedArb, shapeArb } from './helpers.ts';

const RUNS = { numRuns: 15 };
const nonEmpty = shapeArb(3, 4).filter((s) => s.length > 0);
/** A shape with an axis of it. */
const shapeAxis = nonEmpty.chain((s) => fc.tuple(fc.constant(s), fc.integer({ min: -s.length, max: s.length - 1 })));
/** Integers in [0, n) as a float tensor, drawn from seed. */
const indices = (shape: number[], n: number, seed: number, backend: T.Backend = f64) => T.randint(0, n, shape, { seed, backend });

describe('scans and reductions', () => {
  it('cumsum: gradient, and its last element along the axis is the sum', () => {
    fc.assert(fc.property(shapeAxis, seedArb, ([shape, axis], seed) => {
      const x = rnd(shape, seed);
      expectGrad((t) => t.cumsum(axis), [x]);
      const a = axis < 0 ? axis + shape.length : axis;
      expectClose(x.cumsum(axis).select(a, shape[a]! - 1).toFloat64Array(), x.sum(a).toFloat64Array(), 1e-12);
    }), RUNS);
  });

  it('logsumexp: gradient, log(sum(exp)), and shifting x by c shifts it by c without overflow', () => {
    fc.assert(fc.property(shapeAxis, fc.boolean(), seedArb, ([shape, axis], keepdim, seed) => {
      const x = rnd(shape, seed);
      expectGrad((t) => t.logsumexp(axis, keepdim), [x]);
      expectClose(x.logsumexp(axis, keepdim).toFloat64Array(), x.exp().sum(axis, keepdim).log().toFloat64Array(), 1e-12);
      expectClose(x.add(1000).logsumexp(axis).toFloat64Array(), x.logsumexp(axis).add(1000).toFloat64Array(), 1e-12);
    }), RUNS);
    expect(T.tensor([[-Infinity, -Infinity], [Infinity, 0]]).logsumexp(1).tolist()).toEqual([-Infinity, Infinity]);
    expect(T.zeros([2, 0]).logsumexp(1).tolist()).toEqual([-Infinity, -Infinity]);
  });

  it('argmax / argmin: the index of the first extreme along the axis, NaN counting as one', () => {
    fc.assert(fc.property(shapeAxis, fc.boolean(), seedArb, ([shape, axis], keepdim, seed) => {
      const x = T.randint(-2, 3, shape, { seed, backend: f64 });
      for (const [arg, ext] of [['argmax', 'max'], ['argmin', 'min']] as const) {
        const idx = x[arg](axis, true);
        expect(idx.requiresGrad).toBe(false);
        expectClose(x.gather(axis, idx).toFloat64Array(), x[ext](axis, true).toFloat64Array(), 0);
        // Every element before the index is strictly worse: it is the first extreme.
        const a = axis < 0 ? axis + shape.length : axis;
        const before = T.arange(shape[a]!, undefined, 1, { backend: f64 }).reshape(shape.map((d, i) => (i === a ? d : 1))).lt(idx);
        const worse = arg === 'argmax' ? x.lt(x.max(axis, true)) : x.gt(x.min(axis, true));
        expect(before.mul(worse.neg().add(1)).sum().item()).toBe(0);
        expect(x[arg](axis, keepdim).shape).toEqual(keepdim ? idx.shape : idx.squeeze(a).shape);
      }
    }), RUNS);
    expect(T.tensor([[1, NaN, 3, NaN]]).argmax(1).tolist()).toEqual([1]);
    expect(T.tensor([[4, 1], [0, 9]]).argmax().item()).toBe(3);
    expect(() => T.zeros([2, 0]).argmax(1)).toThrow(/argmax: cannot take the argmax of an empty axis/);
  });

  it('std: gradient, the square root of var, unbiased / correction as torch', () => {
    fc.assert(fc.property(shapeAxis, fc.constantFrom(0, 1, 2), seedArb, ([shape, axis], correction, seed) => {
      const a = axis < 0 ? axis + shape.length : axis;
      fc.pre(shape[a]! > Math.max(correction, 1)); // one value: std 0, whose gradient is NaN in torch too
      const x = rnd(shape, seed);
      expectGrad((t) => t.std(axis, { correction }), [x]);
      expectClose(x.std(axis, { correction }).square().toFloat64Array(), x.var(axis, { correction }).toFloat64Array(), 1e-12);
    }), RUNS);
    const x = T.tensor([1, 2, 3, 4], { backend: f64 });
    expect(x.std().item()).toBeCloseTo(Math.sqrt(5 / 3), 14);
    expect(x.std(undefined, { unbiased: false }).item()).toBeCloseTo(Math.sqrt(5 / 4), 14);
    expect(() => x.std(0, { unbiased: true, correction: 1 })).toThrow(/std: give either unbiased or correction/);
    expect(Number.isNaN(T.tensor([5]).std().item())).toBe(true); // one value, unbiased: NaN, as torch
  });

  it('erf: gradient, odd, tends to +-1, and a non-tensor is refused', () => {
    fc.assert(fc.property(shapeArb(), seedArb, (shape, seed) => {
      const x = rnd(shape, seed);
      expectGrad((t) => t.erf(), [x]);
      expectClose(T.erf(x.neg()).toFloat64Array(), T.erf(x).neg().toFloat64Array(), 1e-15);
    }), RUNS);
    expect(T.erf(T.tensor([-10, 0, 10])).tolist()).toEqual([-1, 0, 1]);
    expect(T.erf(0.5)).toBeCloseTo(0.5204998778130465, 15);
    expect(() => T.erf('1' as unknown as number)).toThrow(/erf: expected a Tensor or a number, got string/);
  });
});

describe('indexing and masking', () => {
  it('gather: gradient (repeated indices add up) and gather by arange is the identity', () => {
    fc.assert(fc.property(shapeAxis, seedArb, ([shape, axis], seed) => {
      const a = axis < 0 ? axis + shape.length : axis;
      const iShape = shape.map((d, i) => (i === a ? d + 2 : Math.max(1, d - (seed % 2))));
      const idx = indices(iShape, shape[a]!, seed + 1);
      expectGrad((t) => t.gather(axis, idx), [rnd(shape, seed)]);
      const x = rnd(shape, seed);
      const identity = T.arange(shape[a]!, undefined, 1, { backend: f64 }).reshape(shape.map((d, i) => (i === a ? d : 1))).expand(shape);
      expectClose(x.gather(axis, identity).toFloat64Array(), x.toFloat64Array(), 0);
    }), RUNS);
    const x = T.tensor([[1, 2], [3, 4]]);
    expect(() => x.gather(1, T.tensor([[0.5, 1]]))).toThrow(/gather: index must hold integers, got 0.5/);
    expect(() => x.gather(1, T.tensor([[2, 0]]))).toThrow(/gather: index 2 at position 0 is out of range for axis 1 of size 2/);
    expect(() => x.gather(1, T.tensor([[-1, 0]]))).toThrow(/out of range/);
    expect(() => x.gather(0, T.tensor([0, 1]))).toThrow(/gather: index \[2\] must have the rank of input \[2, 2\]/);
  });

  it('indexSelect: gradient, and it equals a gather with the index broadcast', () => {
    fc.assert(fc.property(shapeAxis, fc.integer({ min: 0, max: 6 }), seedArb, ([shape, axis], count, seed) => {
      const a = axis < 0 ? axis + shape.length : axis;
      const idx = indices([count], shape[a]!, seed + 1);
      const x = rnd(shape, seed);
      expectGrad((t) => t.indexSelect(axis, idx), [x]);
      const outShape = shape.map((d, i) => (i === a ? count : d));
      const viaGather = x.gather(a, idx.reshape(shape.map((_, i) => (i === a ? count : 1))).expand(outShape));
      expectClose(x.indexSelect(axis, idx).toFloat64Array(), viaGather.toFloat64Array(), 0);
    }), RUNS);
    expect(() => T.ones([3]).indexSelect(0, T.tensor([[0]]))).toThrow(/indexSelect: index must be 0-D or 1-D/);
  });

  it('maskedFill: gradient to x (zero where filled) and to a one-element value', () => {
    fc.assert(fc.property(shapeArb(3, 4), seedArb, (shape, seed) => {
      const mask = rnd(shape.map((d, i) => (i % 2 ? 1 : d)), seed + 1).gt(0);
      expectGrad((t, v) => t.maskedFill(mask, v!), [rnd(shape, seed), rnd([], seed + 2)]);
      const filled = rnd(shape, seed).maskedFill(mask, -Infinity);
      expect(filled.eq(-Infinity).sum().item()).toBe(mask.expand(shape).sum().item());
    }), RUNS);
    expect(() => T.ones([2, 3]).maskedFill(T.ones([4, 2, 3]), 0)).toThrow(/maskedFill: mask \[4, 2, 3\] must broadcast to the input's shape \[2, 3\]/);
  });

  it('tril / triu: gradients, tril(x, k) + triu(x, k + 1) = x, and eye is both', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 2, maxLength: 3 }), fc.integer({ min: -4, max: 4 }), seedArb, (shape, k, seed) => {
      const x = rnd(shape, seed);
      expectGrad((t) => t.tril(k), [x]);
      expectGrad((t) => t.triu(k), [x]);
      expectClose(x.tril(k).add(x.triu(k + 1)).toFloat64Array(), x.toFloat64Array(), 0);
    }), RUNS);
    const e = T.eye(3, 5);
    expect(e.tril().tolist()).toEqual(e.tolist());
    expect(e.triu().tolist()).toEqual(e.tolist());
    expect(() => T.ones([3]).tril()).toThrow(/tril: input must have at least 2 dimensions/);
  });

  it('linspace and eye: lengths, exact ends, bad arguments', () => {
    fc.assert(fc.property(fc.double({ min: -100, max: 100, noNaN: true }), fc.double({ min: -100, max: 100, noNaN: true }), fc.integer({ min: 2, max: 40 }), (a, b, n) => {
      const v = T.linspace(a, b, n, { backend: f64 }).toFloat64Array();
      expect(v.length).toBe(n);
      expect(v[0] === a && v[n - 1] === b, `ends ${v[0]} ${v[n - 1]}`).toBe(true); // (=== : -0 and 0 are one end)
    }), RUNS);
    expect(T.linspace(0, 1, 0).shape).toEqual([0]);
    expect(() => T.linspace(0, 1, 2.5)).toThrow(/linspace: steps must be an integer >= 0/);
    expect(() => T.linspace(0, NaN, 2)).toThrow(/linspace: end must be a finite number/);
    expect(T.eye(2).tolist()).toEqual([[1, 0], [0, 1]]);
    expect(() => T.eye(-1)).toThrow(/eye: n must be an integer >= 0/);
  });
});

/** A conv geometry: batch, channels (a multiple of groups), spatial size, kernel, stride, padding, dilation. */
const geometry = fc.record({
  n: fc.integer({ min: 1, max: 2 }), groups: fc.integer({ min: 1, max: 2 }), cpg: fc.integer({ min: 1, max: 2 }), opg: fc.integer({ min: 1, max: 2 }),
  h: fc.integer({ min: 1, max: 4 }), w: fc.integer({ min: 1, max: 4 }), kh: fc.integer({ min: 1, max: 3 }), kw: fc.integer({ min: 1, max: 3 }),
  stride: fc.integer({ min: 1, max: 3 }), padding: fc.integer({ min: 0, max: 2 }), dilation: fc.integer({ min: 1, max: 2 }), outPad: fc.integer({ min: 0, max: 2 }),
});

describe('spatial ops', () => {
  it('convTranspose2d: gradients, and it is the adjoint of conv2d: <conv2d(a, w), b> = <a, convTranspose2d(b, w)>', () => {
    fc.assert(fc.property(geometry, seedArb, (g, seed) => {
      const outputPadding = g.outPad % g.stride;
      const OH = (g.h - 1) * g.stride - 2 * g.padding + g.dilation * (g.kh - 1) + outputPadding + 1;
      const OW = (g.w - 1) * g.stride - 2 * g.padding + g.dilation * (g.kw - 1) + outputPadding + 1;
      fc.pre(OH >= 1 && OW >= 1);
      const opts = { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups, outputPadding };
      const x = rnd([g.n, g.groups * g.cpg, g.h, g.w], seed);
      const w = rnd([g.groups * g.cpg, g.opg, g.kh, g.kw], seed + 1);
      const b = rnd([g.groups * g.opg], seed + 2);
      expectGrad((xx, ww, bb) => T.convTranspose2d(xx!, ww!, bb, opts), [x, w, b]);
      const y = T.convTranspose2d(x, w, null, opts);
      expect(y.shape).toEqual([g.n, g.groups * g.opg, OH, OW]);
      const probe = rnd(y.shape, seed + 3);
      const lhs = T.conv2d(probe, w, null, { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups }).mul(x).sum().item();
      expect(lhs).toBeCloseTo(y.mul(probe).sum().item(), 9);
    }), RUNS);
    expect(() => T.convTranspose2d(T.ones([1, 2, 3, 3]), T.ones([2, 1, 2, 2]), null, { stride: 2, outputPadding: 2 })).toThrow(/outputPadding 2x2 must be smaller than the stride 2x2/);
    expect(() => T.convTranspose2d(T.ones([1, 2, 3, 3]), T.ones([3, 1, 2, 2]))).toThrow(/input \[1, 2, 3, 3\] has 2 channels but weight \[3, 1, 2, 2\] expects 3/);
  });

  it('maxPool2d: gradient, window maxima, kernel 1 is the identity', () => {
    fc.assert(fc.property(geometry, fc.boolean(), seedArb, (g, ceilMode, seed) => {
      const padding = Math.min(g.padding, Math.floor((g.dilation * (g.kh - 1) + 1) / 2), Math.floor((g.dilation * (g.kw - 1) + 1) / 2));
      const opts = { stride: g.stride, padding, dilation: g.dilation, ceilMode };
      fc.pre(g.h + 2 * padding >= g.dilation * (g.kh - 1) + 1 && g.w + 2 * padding >= g.dilation * (g.kw - 1) + 1);
      const x = rnd([g.n, g.cpg, g.h, g.w], seed);
      // (finite differences of a -Infinity output are NaN: those outputs are zeroed for the check)
      expectGrad((t) => T.maxPool2d(t, [g.kh, g.kw], opts).maskedFill(T.maxPool2d(t, [g.kh, g.kw], opts).eq(-Infinity), 0), [x]);
      // Every output is one of the input's values (or -Infinity: a dilated window on padding alone, as torch).
      const y = T.maxPool2d(x, [g.kh, g.kw], opts);
      const values = new Set([...x.toFloat64Array(), -Infinity]);
      for (const v of y.toFloat64Array()) expect(values.has(v)).toBe(true);
      expectClose(T.maxPool2d(x, 1).toFloat64Array(), x.toFloat64Array(), 0);
    }), RUNS);
    expect(T.maxPool2d(T.ones([1, 1, 1, 1]), 2, { padding: 1, dilation: 2, stride: 1 }).tolist()).toEqual([[[[-Infinity]]]]);
    expect(() => T.maxPool2d(T.ones([1, 1, 4, 4]), 2, { padding: 2 })).toThrow(/maxPool2d: padding 2x2 must be at most half the kernel 2x2/);
    expect(() => T.maxPool2d(T.ones([1, 4, 4]), 2)).toThrow(/maxPool2d: input must be \[N, C, H, W\]/);
  });

  it('interpolate: gradients for every mode; constants stay constant; the same size is the identity', () => {
    fc.assert(fc.property(
      fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
      fc.constantFrom<[T.InterpolateMode, boolean | undefined]>(['nearest', undefined], ['bilinear', false], ['bilinear', true]),
      seedArb,
      ([h, w, oh, ow], [mode, alignCorners], seed) => {
        const x = rnd([1, 2, h, w], seed);
        const opts = { size: [oh, ow] as [number, number], mode, alignCorners };
        expectGrad((t) => T.interpolate(t, opts), [x]);
        const c = T.full([1, 1, h, w], 3.25, { backend: f64 });
        expectClose(T.interpolate(c, opts).toFloat64Array(), new Float64Array(oh * ow).fill(3.25), 1e-12);
        expectClose(T.interpolate(x, { ...opts, size: [h, w] }).toFloat64Array(), x.toFloat64Array(), 1e-15);
      },
    ), RUNS);
    const x = T.ones([1, 1, 2, 2]);
    expect(() => T.interpolate(x, { size: 4, alignCorners: true })).toThrow(/alignCorners only applies to mode 'bilinear'/);
    expect(() => T.interpolate(x, { size: 4, scaleFactor: 2 })).toThrow(/give exactly one of size and scaleFactor/);
    expect(() => T.interpolate(x, { size: 4, mode: 'bicubic' as T.InterpolateMode })).toThrow(/mode must be 'nearest' or 'bilinear'/);
  });
});

describe('batch normalisation', () => {
  it('batchNorm: gradients in training and eval, running statistics as torch', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 2, maxLength: 4 }), seedArb, (shape, seed) => {
      const C = shape[1]!;
      fc.pre(shape.reduce((a, b) => a * b, 1) / C > 1);
      const [x, w, b] = [rnd(shape, seed), rnd([C], seed + 1), rnd([C], seed + 2)];
      expectGrad((xx, ww, bb) => T.batchNorm(xx!, null, null, { weight: ww, bias: bb, training: true }), [x, w, b]);
      const rm = rnd([C], seed + 3);
      const rv = rnd([C], seed + 4).abs().add(0.5);
      expectGrad((xx, ww, bb) => T.batchNorm(xx!, rm, rv, { weight: ww, bias: bb }), [x, w, b]);
      // Training output: per channel mean 0 and biased variance ~1 (before the affine part).
      const y = T.batchNorm(x, null, null, { training: true, eps: 1e-12 });
      const axes = shape.map((_, i) => i).filter((i) => i !== 1);
      expectClose(y.mean(axes).toFloat64Array(), new Float64Array(C), 1e-9);
    }), RUNS);
    expect(() => T.batchNorm(T.ones([1, 3]), null, null, { training: true })).toThrow(/training needs more than 1 value per channel/);
    expect(() => T.batchNorm(T.ones([2, 3]), null, null)).toThrow(/eval mode \(training: false\) needs runningMean and runningVar/);
    expect(() => T.batchNorm(T.ones([2, 3]), T.zeros([2]), T.ones([2]))).toThrow(/runningMean must have shape \[3\]/);
  });

  it('BatchNorm2d: train updates the running stats (momentum, or a cumulative average when null), eval uses them, state-dict keys as torch', () => {
    const x = T.randn([4, 2, 3, 3], { seed: 5, backend: f64 });
    const bn = new T.BatchNorm2d(2, { backend: f64 });
    expect([...bn.stateDict().keys()].sort()).toEqual(['bias', 'num_batches_tracked', 'running_mean', 'running_var', 'weight']);
    bn.forward(x);
    const mean = x.mean([0, 2, 3]).toFloat64Array();
    const varU = x.var([0, 2, 3]).toFloat64Array();
    expectClose(bn.runningMean!.toFloat64Array(), mean.map((m) => 0.1 * m), 1e-12);
    expectClose(bn.runningVar!.toFloat64Array(), varU.map((v) => 0.9 + 0.1 * v), 1e-12);
    expect(bn.numBatchesTracked!.item()).toBe(1);
    bn.eval();
    const y = bn.forward(x);
    const want = T.batchNorm(x, bn.runningMean, bn.runningVar, { weight: bn.weight, bias: bn.bias });
    expectClose(y.toFloat64Array(), want.toFloat64Array(), 0);
    expect(bn.numBatchesTracked!.item()).toBe(1);

    const avg = new T.BatchNorm1d(2, { backend: f64, momentum: null });
    const a = T.randn([5, 2], { seed: 1, backend: f64 });
    const b = T.randn([5, 2], { seed: 2, backend: f64 });
    avg.forward(a);
    avg.forward(b);
    expectClose(avg.runningMean!.toFloat64Array(), a.mean(0).add(b.mean(0)).div(2).toFloat64Array(), 1e-12);
    expect(() => avg.forward(T.ones([2, 3]))).toThrow(/BatchNorm1d\(2\): input must be 2-D or 3-D with 2 channels on axis 1, got \[2, 3\]/);

    const noStats = new T.BatchNorm2d(2, { trackRunningStats: false, affine: false, backend: f64 }).eval();
    expect([...noStats.stateDict().keys()]).toEqual([]);
    expectClose(noStats.forward(x).toFloat64Array(), T.batchNorm(x, null, null, { training: true }).toFloat64Array(), 0);
  });
});
