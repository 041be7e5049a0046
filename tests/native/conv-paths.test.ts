/**
 * The native convolution's large-image path against the reference backend: an image whose
 * patch matrix passes 64 Ki floats (256 KB) is lowered in bands of output rows (im2col and
 * col2im per band, the weight gradient accumulated over bands), and the weight gradient of
 * such a band runs as C^T = cols @ dY^T. The shared property suite draws images of at most
 * 7x7, which never band, so this suite draws only geometries that do (checked per draw).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conv2d, randn } from '../../core/index.ts';
import { seeds } from '../../core/testing/index.ts';
import { compareWithReference } from '../gpu/harness.ts';
import { nativeBackend, nativeLabel, nativeSkip } from './suite.ts';

/** conv.cc's band size: a patch matrix above this many floats is cut into bands of output rows. */
const BAND_FLOATS = 64 * 1024;

const int = (min: number, max: number) => fc.integer({ min, max });
const axis = fc.record({ kernel: fc.constant(3), stride: int(1, 2), padding: int(0, 1), dilation: int(1, 2), size: int(80, 110) }).map((a) => ({
  ...a, out: Math.floor((a.size + 2 * a.padding - a.dilation * (a.kernel - 1) - 1) / a.stride) + 1,
}));
/** 3x3 kernels over 6-8 channels a group and at least 38x38 output pixels: every draw is banded. */
const geometries = fc.record({ batch: int(1, 2), groups: int(1, 2), inPerGroup: int(6, 8), outPerGroup: int(1, 9), h: axis, w: axis });

describe.skipIf(nativeSkip)(`${nativeLabel}: banded convolutions of large images`, () => {
  it('forward, input and weight gradients agree with the reference on banded geometries', () => {
    const backend = nativeBackend(1);
    fc.assert(
      fc.property(geometries, seeds(), (g, seed) => {
        const ckk = g.inPerGroup * g.h.kernel * g.w.kernel;
        // the geometry is banded: one image per chunk (>= 256 output pixels) and a patch matrix over the band size
        expect(g.h.out * g.w.out).toBeGreaterThanOrEqual(256);
        expect(ckk * g.h.out * g.w.out).toBeGreaterThan(BAND_FLOATS);
        const [C, O] = [g.inPerGroup * g.groups, g.outPerGroup * g.groups];
        const run = (output: 0 | 1 | 2) => () => {
          const x = randn([g.batch, C, g.h.size, g.w.size], { seed }).requiresGrad_();
          const w = randn([O, g.inPerGroup, g.h.kernel, g.w.kernel], { seed: seed + 1 }).requiresGrad_();
          const y = conv2d(x, w, null, {
            stride: [g.h.stride, g.w.stride], padding: [g.h.padding, g.w.padding], dilation: [g.h.dilation, g.w.dilation], groups: g.groups,
          });
          y.mul(randn(y.shape, { seed: seed + 2 })).sum().backward();
          return [y, x.grad, w.grad][output]!;
        };
        // each output against its own reduction length: a shared, loose bound would hide a misplaced band
        const what = `banded conv2d ${JSON.stringify(g)}`;
        compareWithReference(backend, run(0), { reduction: ckk, termMax: 16 }, `${what}, output`);
        compareWithReference(backend, run(1), { reduction: g.outPerGroup * 9, termMax: 16 }, `${what}, input gradient`);
        compareWithReference(backend, run(2), { reduction: g.batch * g.h.out * g.w.out, termMax: 16 }, `${what}, weight gradient`);
      }),
      { numRuns: Number(process.env.GPUJS_RUNS) || 6 },
    );
  });
});
