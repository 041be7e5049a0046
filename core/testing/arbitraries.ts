/**
 * fast-check arbitraries for tensor properties. They draw host data (shapes, numbers, seeds),
 * never tensors: a cross-backend check builds the same tensor on every backend from one draw,
 * and fast-check can shrink a failing case to a small shape.
 */
import fc from 'fast-check';
import type { Shape } from '../shape.ts';

export interface ShapeConstraints {
  /** Fewest and most axes (default 1 and 3). */
  minRank?: number;
  maxRank?: number;
  /** Smallest and largest size of an axis (default 1 and 5: odd sizes and size 1 are where kernels break). */
  minDim?: number;
  maxDim?: number;
}

/** A tensor shape. */
export function shapes(c: ShapeConstraints = {}): fc.Arbitrary<number[]> {
  const { minRank = 1, maxRank = 3, minDim = 1, maxDim = 5 } = c;
  if (!(Number.isInteger(minRank) && minRank >= 0 && maxRank >= minRank)) throw new RangeError(`shapes: need 0 <= minRank <= maxRank, got ${minRank}, ${maxRank}`);
  if (!(Number.isInteger(minDim) && minDim >= 0 && maxDim >= minDim)) throw new RangeError(`shapes: need 0 <= minDim <= maxDim, got ${minDim}, ${maxDim}`);
  return fc.array(fc.integer({ min: minDim, max: maxDim }), { minLength: minRank, maxLength: maxRank });
}

/**
 * Two shapes that broadcast together (NumPy rules): the first is drawn, the second is it with
 * some axes set to 1 and some leading axes dropped; `swap` puts the smaller one first half the time.
 */
export function broadcastableShapes(c: ShapeConstraints = {}): fc.Arbitrary<readonly [number[], number[]]> {
  return shapes({ ...c, minRank: Math.max(1, c.minRank ?? 1) }).chain((s) =>
    fc.tuple(fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }), fc.nat({ max: s.length - 1 }), fc.boolean()).map(([ones, drop, swap]) => {
      const small = s.map((d, i) => (ones[i] ? 1 : d)).slice(drop);
      return swap ? ([small, s] as const) : ([s, small] as const);
    }),
  );
}

/** Values and the shape they fill: what a tensor is made of, drawn on the host. */
export interface HostTensor {
  readonly shape: Shape;
  readonly data: Float32Array;
}

export interface ValueConstraints {
  /** Closed range of the values (default [-4, 4]). */
  min?: number;
  max?: number;
  /** Keep values at least this far from zero (log, division, rsqrt, ...): |v| >= awayFromZero. */
  awayFromZero?: number;
}

/** float32 values in a range, never NaN or infinite. */
export function float32s(length: number, c: ValueConstraints = {}): fc.Arbitrary<Float32Array> {
  const { min = -4, max = 4, awayFromZero = 0 } = c;
  if (!(Number.isFinite(min) && Number.isFinite(max) && min <= max)) throw new RangeError(`float32s: need finite min <= max, got ${min}, ${max}`);
  const f = fc.float({ min: Math.fround(min), max: Math.fround(max), noNaN: true, noDefaultInfinity: true });
  const v = awayFromZero > 0 ? f.filter((x) => Math.abs(x) >= awayFromZero) : f;
  return fc.array(v, { minLength: length, maxLength: length }).map((a) => Float32Array.from(a, (x) => x + 0)); // + 0: no -0
}

/** A tensor's shape and values: `hostTensors(shapes(), { min: 0.1, max: 4 })`, or a fixed shape. */
export function hostTensors(shapeArb: fc.Arbitrary<number[]> | Shape, c: ValueConstraints = {}): fc.Arbitrary<HostTensor> {
  const s = Array.isArray(shapeArb) ? fc.constant([...(shapeArb as Shape)]) : (shapeArb as fc.Arbitrary<number[]>);
  return s.chain((sh) => float32s(sh.reduce((a, b) => a * b, 1), c).map((data) => ({ shape: sh, data })));
}

/** A conv2d problem whose output has at least one pixel: NCHW input, OIHW weight, and the geometry. */
export interface ConvGeometry {
  batch: number;
  inChannels: number;
  outChannels: number;
  height: number;
  width: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
  /** Output height and width. */
  outHeight: number;
  outWidth: number;
}

export interface ConvConstraints {
  maxBatch?: number;
  /** Channels per group (default up to 3) and groups (default up to 2). */
  maxChannelsPerGroup?: number;
  maxGroups?: number;
  maxSize?: number;
  maxKernel?: number;
  maxStride?: number;
  maxPadding?: number;
  maxDilation?: number;
}

/** conv2d geometries: odd kernels and sizes, strides, padding, dilation and groups together. */
export function convGeometries(c: ConvConstraints = {}): fc.Arbitrary<ConvGeometry> {
  const { maxBatch = 2, maxChannelsPerGroup = 3, maxGroups = 2, maxSize = 7, maxKernel = 3, maxStride = 2, maxPadding = 1, maxDilation = 2 } = c;
  const int = (min: number, max: number) => fc.integer({ min, max: Math.max(min, max) });
  const axis = fc.record({ kernel: int(1, maxKernel), stride: int(1, maxStride), padding: int(0, maxPadding), dilation: int(1, maxDilation) }).chain((a) => {
    // the smallest input that leaves one output pixel, so no draw is thrown away
    const least = Math.max(1, a.dilation * (a.kernel - 1) + 1 - 2 * a.padding);
    return int(least, Math.max(least, maxSize)).map((size) => ({ ...a, size, out: Math.floor((size + 2 * a.padding - a.dilation * (a.kernel - 1) - 1) / a.stride) + 1 }));
  });
  return fc
    .record({ batch: int(1, maxBatch), groups: int(1, maxGroups), inPerGroup: int(1, maxChannelsPerGroup), outPerGroup: int(1, maxChannelsPerGroup), h: axis, w: axis })
    .map(({ batch, groups, inPerGroup, outPerGroup, h, w }) => ({
      batch, inChannels: inPerGroup * groups, outChannels: outPerGroup * groups, height: h.size, width: w.size,
      kernel: [h.kernel, w.kernel] as [number, number], stride: [h.stride, w.stride] as [number, number],
      padding: [h.padding, w.padding] as [number, number], dilation: [h.dilation, w.dilation] as [number, number],
      groups, outHeight: h.out, outWidth: w.out,
    }));
}

/** A seed for the framework's own generators (rand, randn, dropout). */
export const seeds = (): fc.Arbitrary<number> => fc.integer({ min: 0, max: 1_000_000 });
