/**
 * The property-test kit (core/testing, `ctrlora-ts/testing`) tested as a user would use it:
 * its arbitraries draw what they promise, and its checks fail on a wrong kernel.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend, broadcastShapes, conv2d, randn, sizeOf, type Storage, type StridedView, type BinaryOp } from '../../core/index.ts';
import {
  BackendMismatchError, assertClose, assertGradcheck, availableBackends, broadcastableShapes, compareOnBackends, compareWithReference,
  convGeometries, float32s, float64Reference, gpujsBackend, hostTensors, reference, seeds, shapes, toTensor,
} from '../../core/testing/index.ts';

/** A backend whose matmul drops the last term of every dot product: the kind of bug the check is for. */
class DroppedTermBackend extends ReferenceBackend {
  override readonly name = 'dropped-term';
  override matmul(a: Storage, b: Storage, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean): Storage {
    if (k === 1) return super.matmul(a, b, batch, m, k, n, transA, transB);
    const full = super.matmul(a, b, batch, m, k, n, transA, transB);
    // subtract the k-th term's contribution by recomputing with the last column of a zeroed
    const av = this.read(a).slice();
    for (let bt = 0; bt < batch; bt++) for (let i = 0; i < m; i++) av[transA ? bt * m * k + (k - 1) * m + i : bt * m * k + i * k + k - 1] = 0;
    this.dispose(full);
    return super.matmul(this.upload(av), b, batch, m, k, n, transA, transB);
  }
}

/** A backend whose add is off by 1e-3: just above the elementwise bound. */
class SloppyAddBackend extends ReferenceBackend {
  override readonly name = 'sloppy-add';
  override binary(op: BinaryOp, a: StridedView, b: StridedView): Storage {
    const out = super.binary(op, a, b);
    if (op !== 'add') return out;
    const v = this.read(out).map((x) => x + 1e-3);
    return this.upload(v);
  }
}

describe('arbitraries', () => {
  it('shapes, float32s and hostTensors stay inside their constraints', () => {
    fc.assert(fc.property(shapes({ minRank: 2, maxRank: 4, minDim: 2, maxDim: 3 }), (s) => s.length >= 2 && s.length <= 4 && s.every((d) => d >= 2 && d <= 3)));
    fc.assert(fc.property(hostTensors(shapes(), { min: 0.5, max: 2 }), (h) => h.data.length === sizeOf(h.shape) && h.data.every((v) => v >= 0.5 && v <= 2)));
    fc.assert(fc.property(float32s(20, { min: -1, max: 1, awayFromZero: 0.25 }), (v) => v.every((x) => Math.abs(x) >= 0.25 && Math.abs(x) <= 1)));
    expect(() => shapes({ minRank: 3, maxRank: 2 })).toThrow(/minRank/);
    expect(() => float32s(3, { min: 2, max: 1 })).toThrow(/min <= max/);
  });

  it('broadcastableShapes broadcast, to one of the two shapes, and either may be the smaller', () => {
    let smallFirst = 0;
    fc.assert(fc.property(broadcastableShapes(), ([a, b]) => {
      const out = broadcastShapes('test', a, b);
      expect([a.join(), b.join()]).toContain(out.join());
      if (out.join() !== a.join()) smallFirst++;
    }));
    expect(smallFirst).toBeGreaterThan(0);
  });

  it('convGeometries are valid conv2d problems: the reference conv2d gives the promised output size', () => {
    fc.assert(fc.property(convGeometries(), seeds(), (g, seed) => {
      const x = randn([g.batch, g.inChannels, g.height, g.width], { seed, backend: reference });
      const w = randn([g.outChannels, g.inChannels / g.groups, ...g.kernel], { seed: seed + 1, backend: reference });
      const y = conv2d(x, w, null, { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups });
      expect(y.shape).toEqual([g.batch, g.outChannels, g.outHeight, g.outWidth]);
    }), { numRuns: 40 });
  });
});

describe('checks', () => {
  it('assertClose: the bound grows with the reduction length, and NaN or Infinity match only themselves', () => {
    const want = new Float32Array([100]);
    const got = new Float32Array([100 + 5e-3]);
    expect(() => assertClose(got, want, { reduction: 1 }, 'sum')).toThrow(BackendMismatchError);
    expect(() => assertClose(got, want, { reduction: 64 }, 'sum')).not.toThrow();
    expect(() => assertClose(new Float32Array([Infinity]), new Float32Array([Infinity]), {}, 'inf')).not.toThrow();
    expect(() => assertClose(new Float32Array([1]), new Float32Array([Infinity]), {}, 'inf')).toThrow(/element 0 is 1, reference Infinity/);
    expect(() => assertClose(new Float32Array([1, 2]), new Float32Array([1]), {}, 'len')).toThrow(/2 values, reference 1/);
  });

  it('compareWithReference passes an exact backend and catches a dropped term and an elementwise error', () => {
    const matmul = () => {
      const a = randn([3, 9], { seed: 1 }).requiresGrad_();
      const b = randn([9, 4], { seed: 2 });
      const y = a.matmul(b);
      y.sum().backward();
      return [y, a.grad];
    };
    compareOnBackends([new ReferenceBackend()], matmul, { reduction: 9 }, 'matmul');
    expect(() => compareWithReference(new DroppedTermBackend(), matmul, { reduction: 9 }, 'matmul')).toThrow(/matmul \[dropped-term\] output 0/);
    const add = () => randn([5], { seed: 3 }).add(randn([5], { seed: 4 }));
    expect(() => compareWithReference(new SloppyAddBackend(), add, { reduction: 1 }, 'add')).toThrow(/add \[sloppy-add\] output 0: element 0/);
  });

  it('compareWithReference refuses outputs computed on another backend than the one under test', () => {
    const other = new ReferenceBackend();
    expect(() => compareWithReference(new ReferenceBackend(), () => randn([2], { seed: 0, backend: other }), {}, 'pinned'))
      .toThrow(/output 0 was computed on reference, not on reference/);
    expect(() => compareWithReference(new ReferenceBackend(), () => [randn([2], { seed: 0 }), null], {}, 'grads')).not.toThrow();
  });

  it('gradcheck on the float64 reference accepts a right gradient rule and toTensor builds from drawn data', () => {
    fc.assert(fc.property(hostTensors(shapes({ maxRank: 2, maxDim: 3 }), { min: -2, max: 2 }), (h) => {
      assertGradcheck((x) => x.mul(x).tanh(), [toTensor(h, { backend: float64Reference })]);
    }), { numRuns: 10 });
  });

  it('availableBackends lists the gpu.js cpu mode here, with its real name', async () => {
    const { backends, unavailable } = await availableBackends({ gpujs: ['cpu'] });
    expect(backends).toContain(gpujsBackend('cpu'));
    expect(backends.map((b) => b.name)).toContain(gpujsBackend('cpu').name);
    // native is listed either way: as a backend or with the reason it cannot run
    expect(backends.some((b) => b.name === 'native') || unavailable.some((u) => u.name === 'native')).toBe(true);
    compareOnBackends(backends, () => randn([4, 5], { seed: 7 }).softmax(-1), { reduction: 5 }, 'softmax');
  });
});
