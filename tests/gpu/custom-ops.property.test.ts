/**
 * Custom ops' gpu.js kernels (core/ops/custom.ts) on every gpu.js mode against their
 * reference kernels, forward and backward, by fast-check properties: the core ops built on
 * the registry (erf, cumsum; the docs' softplus example is softplus.property.test.ts);
 * and the ops composed from built-in kernels (pooling, resampling, indexing, masking,
 * batch norm...), whose -Infinity fills, host-built matrices and index uploads must survive
 * every mode.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as T from '../../core/index.ts';
import { randn } from '../../core/index.ts';
import { MODES, backendFor, compareWithReference } from './harness.ts';

const runsFor = (mode: string) => ({ numRuns: Number(process.env.GPUJS_RUNS) || (mode === 'headlessgl' ? 1 : mode === 'cpu' || mode === 'webasm' ? 5 : 2) });
const shapeArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 });
const seedArb = fc.integer({ min: 0, max: 1_000_000 });

describe.each(MODES)('custom ops on gpu.js %s against the reference', (mode) => {
  const backend = backendFor(mode);
  const RUNS = runsFor(mode);

  it('an op without a gpu.js kernel: an error naming op and backend, or with hostFallback a readback round trip', () => {
    const name = `host-only-${mode}`;
    const twice = ({ inputs: [x], out }: T.HostKernelArgs<unknown>) => out.set(x!.map((v) => 2 * v));
    const strictOp = T.defineOp<unknown>({ name, kernels: { reference: twice } });
    const fallbackOp = T.defineOp<unknown>({ name: `${name}-fallback`, kernels: { reference: twice }, hostFallback: true });
    try {
      const x = T.tensor([1, -2, 3], { backend });
      expect(() => strictOp([x], {})).toThrow(`custom op '${name}' has no kernel for backend '${backend.name}' (family 'gpujs'; kernels: reference)`);
      const before = backend.stats.readbacks;
      const y = fallbackOp([x], {});
      expect(backend.stats.readbacks).toBe(before + 1); // the input read back to the host, once
      expect(y.backend).toBe(backend);
      expect([...y.toArray()]).toEqual([2, -4, 6]);
    } finally {
      T.unregisterOp(name);
      T.unregisterOp(`${name}-fallback`);
    }
  });

  it('erf and cumsum (core ops on the registry) and their gradients', () => {
    fc.assert(
      fc.property(shapeArb, seedArb, (shape, seed) => {
        const axis = seed % shape.length;
        compareWithReference(backend, () => {
          const x = randn(shape, { seed, std: 1.5 }).requiresGrad_();
          const e = T.erf(x);
          const c = x.cumsum(axis);
          e.mul(randn(shape, { seed: seed + 1 })).sum().add(c.mul(randn(shape, { seed: seed + 2 })).sum()).backward();
          return [e, c, x.grad];
        }, { rtol: 2e-5, atol: 2e-6, reduction: shape[axis]! }, `erf/cumsum axis ${axis} ${JSON.stringify(shape)}`);
      }),
      RUNS,
    );
  });

  it('maxPool2d kernels (ties, dilation, ceil mode, windows on padding alone) and the first-maximum gradient', () => {
    const geometry = fc.record({
      h: fc.integer({ min: 1, max: 6 }), w: fc.integer({ min: 1, max: 6 }), k: fc.integer({ min: 1, max: 3 }),
      s: fc.integer({ min: 1, max: 3 }), p: fc.integer({ min: 0, max: 1 }), d: fc.integer({ min: 1, max: 2 }), ceil: fc.boolean(),
    }).filter((g) => g.p <= (g.d * (g.k - 1) + 1) / 2 && g.h + 2 * g.p >= g.d * (g.k - 1) + 1 && g.w + 2 * g.p >= g.d * (g.k - 1) + 1);
    fc.assert(
      fc.property(geometry, seedArb, (g, seed) => {
        compareWithReference(backend, () => {
          // Small integers: many ties inside a window, where the gradient must pick the first.
          const x = T.randint(-2, 3, [2, 2, g.h, g.w], { seed }).requiresGrad_();
          const y = T.maxPool2d(x, g.k, { stride: g.s, padding: g.p, dilation: g.d, ceilMode: g.ceil });
          y.maskedFill(y.eq(-Infinity), 0).mul(randn(y.shape, { seed: seed + 1 })).sum().backward();
          return [y, x.grad];
        }, { reduction: g.k * g.k }, `maxPool2d ${JSON.stringify(g)}`);
      }),
      RUNS,
    );
  });

  it('interpolate kernels (nearest and bilinear, up and down, alignCorners) and their gather-style gradient', () => {
    const side = fc.integer({ min: 1, max: 7 });
    fc.assert(
      fc.property(side, side, side, side, fc.constantFrom<[T.InterpolateMode, boolean | undefined]>(['nearest', undefined], ['bilinear', false], ['bilinear', true]), seedArb,
        (h, w, oh, ow, [mode, alignCorners], seed) => {
          compareWithReference(backend, () => {
            const x = randn([2, 2, h, w], { seed }).requiresGrad_();
            const y = T.interpolate(x, { size: [oh, ow], mode, alignCorners });
            y.mul(randn(y.shape, { seed: seed + 1 })).sum().backward();
            return [y, x.grad];
          }, { reduction: 4 * Math.ceil(oh / h + 1) * Math.ceil(ow / w + 1) }, `interpolate ${mode} ${alignCorners} ${h}x${w} -> ${oh}x${ow}`);
        }),
      RUNS,
    );
  });

  it('composed ops: maxPool2d, interpolate, convTranspose2d, batchNorm, gather, indexSelect, maskedFill, tril, logsumexp, argmax, std', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 2, max: 5 }), seedArb, (h, w, seed) => {
        compareWithReference(backend, () => {
          const x = randn([2, 3, h, w], { seed }).requiresGrad_();
          const wt = randn([3, 2, 3, 3], { seed: seed + 1 }).requiresGrad_();
          const pooled = T.maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true });
          const up = T.interpolate(x, { size: [h + 2, w + 1], mode: 'bilinear' });
          const near = T.interpolate(x, { scaleFactor: 1.5 });
          const deconv = T.convTranspose2d(x, wt, null, { stride: 2, padding: 1, outputPadding: 1 });
          const bn = T.batchNorm(x, null, null, { training: true });
          const idx = T.randint(0, h, [2, 3, 2, w], { seed: seed + 2 });
          const gathered = x.gather(2, idx);
          const selected = x.indexSelect(3, T.tensor([w - 1, 0, w - 1]));
          const masked = x.maskedFill(x.gt(0.5), -Infinity).exp();
          const lower = x.tril(-1);
          const lse = x.logsumexp([2, 3]);
          const arg = x.argmax(1);
          const sd = x.std(3);
          const outs = [pooled, up, near, deconv, bn, gathered, selected, masked, lower, lse, sd];
          outs.reduce((acc: T.Tensor, t, i) => acc.add(t.mul(randn(t.shape, { seed: seed + 10 + i })).sum()), x.sum().mul(0)).backward();
          return [...outs, arg, x.grad, wt.grad];
        }, { rtol: 2e-5, atol: 1e-5, reduction: 2 * h * w, termMax: 16 }, `composed ops ${h}x${w}`);
      }),
      RUNS,
    );
  }, 240_000); // ~25 kernels compiled per shape: 17 s a run on the software GL drivers
});
