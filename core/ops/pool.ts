/**
 * Spatial resampling on [N, C, H, W]: nearest upsampling, interpolate (nearest, bilinear),
 * average and max pooling.
 */
import { attach } from '../autograd.ts';
import type { Pool2dGeometry } from '../backend.ts';
import { ArgumentError, ShapeError, fmtShape } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { where } from './binary.ts';
import { type Pair, pair } from './conv.ts';
import { type HostKernelArgs, backendFamily, defineOp } from './custom.ts';
import { dense, wrap } from './util.ts';

function nchw(op: string, x: Tensor): [number, number, number, number] {
  if (x.ndim !== 4) throw new ShapeError(`${op}: input must be [N, C, H, W], got ${fmtShape(x.shape)}`);
  return x.shape as [number, number, number, number];
}

/** Nearest-neighbour upsampling by integer factors (torch's interpolate(mode='nearest')). */
export function upsampleNearest2d(x: Tensor, scale: Pair = 2): Tensor {
  const [N, C, H, W] = nchw('upsampleNearest2d', x);
  const [sh, sw] = pair('upsampleNearest2d', 'scale', scale, 1);
  const planes = N * C;
  const out = wrap(x.backend.upsampleNearest2d(dense(x), planes, H, W, sh, sw), [N, C, H * sh, W * sw]);
  return attach(out, 'upsampleNearest2d', [x], (gy) => [
    wrap(x.backend.upsampleNearest2dGrad(dense(gy), planes, H, W, sh, sw), x.shape),
  ]);
}

export interface AvgPool2dOptions {
  stride?: Pair;
  padding?: Pair;
  /** Count padded zeros in the divisor (torch's default, true). */
  countIncludePad?: boolean;
}

export function avgPool2d(x: Tensor, kernel: Pair, options: AvgPool2dOptions = {}): Tensor {
  const [N, C, H, W] = nchw('avgPool2d', x);
  const [kernelH, kernelW] = pair('avgPool2d', 'kernel', kernel, 1);
  const [strideH, strideW] = pair('avgPool2d', 'stride', options.stride ?? kernel, 1);
  const [padH, padW] = pair('avgPool2d', 'padding', options.padding ?? 0, 0);
  if (padH > kernelH / 2 || padW > kernelW / 2) {
    throw new ArgumentError(`avgPool2d: padding ${padH}x${padW} must be at most half the kernel ${kernelH}x${kernelW}`);
  }
  const outHeight = Math.floor((H + 2 * padH - kernelH) / strideH) + 1;
  const outWidth = Math.floor((W + 2 * padW - kernelW) / strideW) + 1;
  if (outHeight < 1 || outWidth < 1) throw new ShapeError(`avgPool2d: kernel ${kernelH}x${kernelW} does not fit input ${fmtShape(x.shape)}`);
  const g: Pool2dGeometry = {
    batch: N, channels: C, inHeight: H, inWidth: W, outHeight, outWidth,
    kernelH, kernelW, strideH, strideW, padH, padW, countIncludePad: options.countIncludePad ?? true,
  };
  const out = wrap(x.backend.avgPool2d(dense(x), g), [N, C, outHeight, outWidth]);
  return attach(out, 'avgPool2d', [x], (gy) => [wrap(x.backend.avgPool2dGrad(dense(gy), g), x.shape)]);
}

export interface MaxPool2dOptions {
  /** Default: the kernel size (torch's default). */
  stride?: Pair;
  /** Implicit -infinity padding on both sides, at most half the (dilated) kernel. */
  padding?: Pair;
  dilation?: Pair;
  /** Round the output size up instead of down (a last window may start in the right padding). */
  ceilMode?: boolean;
}

/** The lowest finite float32: what a gpu.js kernel returns for a window on padding alone (then made -Infinity). */
const LOWEST = -3.4028234663852886e38;

/** torch's pooling output size for one axis, with ceil_mode's rule that a window starts inside the input or left padding. */
function poolOutSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

/** A max-pooling geometry over `planes` = N * C planes of H x W. */
interface MaxPoolGeometry {
  planes: number; H: number; W: number; OH: number; OW: number;
  KH: number; KW: number; SH: number; SW: number; PH: number; PW: number; DH: number; DW: number;
}

/**
 * Calls visit(outputIndex, inputIndex) with each output's chosen input element: the
 * first maximum of its window in row-major order, a NaN taking over (torch's CPU rule), or
 * the first tap inside the input when every value is -Infinity; -1 for a window on padding alone.
 */
function forEachWindowMax(x: ArrayLike<number>, g: MaxPoolGeometry, visit: (o: number, at: number) => void): void {
  for (let p = 0; p < g.planes; p++) {
    for (let oh = 0; oh < g.OH; oh++) {
      for (let ow = 0; ow < g.OW; ow++) {
        let best = -Infinity;
        let at = -1;
        for (let a = 0; a < g.KH; a++) {
          const ih = oh * g.SH - g.PH + a * g.DH;
          if (ih < 0 || ih >= g.H) continue;
          for (let b = 0; b < g.KW; b++) {
            const iw = ow * g.SW - g.PW + b * g.DW;
            if (iw < 0 || iw >= g.W) continue;
            const k = (p * g.H + ih) * g.W + iw;
            const v = x[k]!;
            if (at < 0 || v > best || Number.isNaN(v)) {
              at = k;
              best = v;
            }
          }
        }
        visit((p * g.OH + oh) * g.OW + ow, at);
      }
    }
  }
}

/** The window of output (oh, ow) in plane p: its first maximum's value (best) and position (bh, bw). */
const GPU_WINDOW_MAX = `
let best = 0;
let found = 0;
let bh = -1;
let bw = -1;
for (let a = 0; a < this.constants.KH; a++) {
  let ih = oh * this.constants.SH - this.constants.PH + a * this.constants.DH;
  if (ih >= 0 && ih < this.constants.H) {
    for (let b = 0; b < this.constants.KW; b++) {
      let iw = ow * this.constants.SW - this.constants.PW + b * this.constants.DW;
      if (iw >= 0 && iw < this.constants.W) {
        let v = x[(p * this.constants.H + ih) * this.constants.W + iw];
        if (found == 0 || v > best) { best = v; found = 1; bh = ih; bw = iw; }
      }
    }
  }
}`;

/** Float-exact q = floor(i / d) and r = i - q d for the flat indices gpu.js holds in floats. */
const gpuDigits = (i: string, d: string, q: string, r: string) =>
  `let ${q} = Math.floor((${i} + 0.5) / ${d});\nlet ${r} = ${i} - ${q} * ${d};`;

const maxPoolOp = defineOp<MaxPoolGeometry>({
  name: 'maxPool2d',
  arity: 1,
  outputShape: ([s], g) => [...s!.slice(0, 2), g.OH, g.OW],
  kernels: {
    reference: maxPoolHost,
    native: maxPoolHost,
    gpujs: ({ attrs }) => ({
      source: `function (x) {
        ${gpuDigits('this.thread.x', 'this.constants.OW', 'q1', 'ow')}
        ${gpuDigits('q1', 'this.constants.OH', 'p', 'oh')}
        ${GPU_WINDOW_MAX}
        if (found == 0) { return ${LOWEST}; }
        return best;
      }`,
      constants: { ...attrs },
    }),
  },
  grad: (gy, { inputs: [x], attrs }) => [maxPoolGradOp([x!, gy], attrs)],
});

function maxPoolHost({ inputs: [x], out, attrs }: HostKernelArgs<MaxPoolGeometry>): void {
  forEachWindowMax(x!, attrs, (o, at) => (out[o] = at < 0 ? -Infinity : x![at]!));
}

/** d maxPool2d / dx: each output's gradient goes to its window's first maximum. Inputs: x, gy. */
const maxPoolGradOp = defineOp<MaxPoolGeometry>({
  name: 'maxPool2dGrad',
  arity: 2,
  nonDifferentiable: true,
  kernels: {
    reference: maxPoolGradHost,
    native: maxPoolGradHost,
    // Gather-style: each input pixel visits the windows that contain it and takes their
    // gradient where it is that window's first maximum (recomputed: no index buffer).
    gpujs: ({ attrs }) => ({
      source: `function (x, g) {
        ${gpuDigits('this.thread.x', 'this.constants.W', 'q1', 'ix')}
        ${gpuDigits('q1', 'this.constants.H', 'p', 'iy')}
        let acc = 0;
        for (let c = 0; c < this.constants.KH; c++) {
          let th = iy + this.constants.PH - c * this.constants.DH;
          let oh = Math.floor((th + 0.5) / this.constants.SH);
          if (th >= 0 && oh * this.constants.SH == th && oh < this.constants.OH) {
            for (let d = 0; d < this.constants.KW; d++) {
              let tw = ix + this.constants.PW - d * this.constants.DW;
              let ow = Math.floor((tw + 0.5) / this.constants.SW);
              if (tw >= 0 && ow * this.constants.SW == tw && ow < this.constants.OW) {
                ${GPU_WINDOW_MAX}
                if (bh == iy && bw == ix) { acc = acc + g[(p * this.constants.OH + oh) * this.constants.OW + ow]; }
              }
            }
          }
        }
        return acc;
      }`,
      constants: { ...attrs },
    }),
  },
});

function maxPoolGradHost({ inputs: [x, gy], out, attrs }: HostKernelArgs<MaxPoolGeometry>): void {
  forEachWindowMax(x!, attrs, (o, at) => {
    if (at >= 0) out[at]! += gy![o]!;
  });
}

/**
 * Max pooling (torch.nn.functional.max_pool2d): the window maxima; the gradient goes to the
 * first maximum of each window in row-major order, as in torch. Its kernels are on the
 * custom-op registry (host: reference and native; gpu.js: forward, and a gather-style
 * gradient that recomputes each window's maximum). A window on padding alone (possible with
 * dilation) gives -Infinity, as torch. On gpu.js a NaN inside a window is not propagated.
 */
export function maxPool2d(x: Tensor, kernel: Pair, options: MaxPool2dOptions = {}): Tensor {
  const [N, C, H, W] = nchw('maxPool2d', x);
  const [KH, KW] = pair('maxPool2d', 'kernel', kernel, 1);
  const [SH, SW] = pair('maxPool2d', 'stride', options.stride ?? kernel, 1);
  const [PH, PW] = pair('maxPool2d', 'padding', options.padding ?? 0, 0);
  const [DH, DW] = pair('maxPool2d', 'dilation', options.dilation ?? 1, 1);
  if (PH > (DH * (KH - 1) + 1) / 2 || PW > (DW * (KW - 1) + 1) / 2) {
    throw new ArgumentError(`maxPool2d: padding ${PH}x${PW} must be at most half the kernel ${KH}x${KW} (dilation ${DH}x${DW})`);
  }
  const ceil = options.ceilMode ?? false;
  const OH = poolOutSize(H, KH, SH, PH, DH, ceil);
  const OW = poolOutSize(W, KW, SW, PW, DW, ceil);
  if (OH < 1 || OW < 1) throw new ShapeError(`maxPool2d: kernel ${KH}x${KW} (dilation ${DH}x${DW}) does not fit input ${fmtShape(x.shape)} with padding ${PH}x${PW}`);
  const out = maxPoolOp([x], { planes: N * C, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW });
  if (backendFamily(out.backend) !== 'gpujs') return out;
  // gpu.js kernels cannot write -Infinity: mark the windows on padding alone (rows x columns).
  const rowHit = Array.from({ length: OH }, (_, o) => Array.from({ length: KH }, (_, i) => o * SH - PH + i * DH).some((r) => r >= 0 && r < H));
  const colHit = Array.from({ length: OW }, (_, o) => Array.from({ length: KW }, (_, j) => o * SW - PW + j * DW).some((c) => c >= 0 && c < W));
  if (rowHit.every(Boolean) && colHit.every(Boolean)) return out;
  const hit = Float32Array.from({ length: OH * OW }, (_, k) => (rowHit[Math.floor(k / OW)]! && colHit[k % OW]! ? 1 : 0));
  return where(wrap(x.backend.upload(hit), [OH, OW]), out, -Infinity);
}

export type InterpolateMode = 'nearest' | 'bilinear';

export interface InterpolateOptions {
  /** The output size [OH, OW] (or one number for both). Give this or scaleFactor. */
  size?: Pair;
  /** Output = floor(input * scaleFactor); the coordinate mapping uses the factor itself, as torch does. */
  scaleFactor?: number | readonly [number, number];
  /** Default 'nearest' (torch's default). */
  mode?: InterpolateMode;
  /** bilinear only: map corner pixel centres onto each other (torch's align_corners; default false). */
  alignCorners?: boolean;
}

/**
 * Resizes [N, C, H, W] (torch.nn.functional.interpolate, modes nearest and bilinear, with
 * torch's coordinate rules). Each axis is resampled by a small [out, in] weight matrix built
 * on the host and applied with matmul, so the gradient is the transposed resampling and
 * every backend runs it; nearest upsampling by whole factors uses its dedicated kernel.
 */
export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  const [, , H, W] = nchw('interpolate', x);
  const mode = options.mode ?? 'nearest';
  if (mode !== 'nearest' && mode !== 'bilinear') throw new ArgumentError(`interpolate: mode must be 'nearest' or 'bilinear', got '${String(mode)}'`);
  if (mode === 'nearest' && options.alignCorners !== undefined) {
    throw new ArgumentError("interpolate: alignCorners only applies to mode 'bilinear' (torch raises the same)");
  }
  if ((options.size === undefined) === (options.scaleFactor === undefined)) {
    throw new ArgumentError('interpolate: give exactly one of size and scaleFactor');
  }
  let out: [number, number];
  let scales: [number | null, number | null] = [null, null];
  if (options.size !== undefined) {
    out = pair('interpolate', 'size', options.size, 1);
  } else {
    const sf = options.scaleFactor!;
    const f: [number, number] = typeof sf === 'number' ? [sf, sf] : [sf[0], sf[1]];
    if (f.some((v) => !Number.isFinite(v) || v <= 0)) throw new ArgumentError(`interpolate: scaleFactor must be finite and > 0, got ${JSON.stringify(sf)}`);
    out = [Math.floor(H * f[0]), Math.floor(W * f[1])];
    if (out[0] < 1 || out[1] < 1) throw new ShapeError(`interpolate: scaleFactor ${JSON.stringify(sf)} shrinks ${H}x${W} to nothing`);
    scales = f;
  }
  const [OH, OW] = out;
  if (mode === 'nearest' && OH % H === 0 && OW % W === 0 && (scales[0] === null || scales[0] === OH / H) && (scales[1] === null || scales[1] === OW / W)) {
    return OH === H && OW === W ? x : upsampleNearest2d(x, [OH / H, OW / W]);
  }
  const align = options.alignCorners ?? false;
  const rowsMat = resampleMatrix(H, OH, scales[0], mode, align); // [OH, H]
  const colsMat = resampleMatrix(W, OW, scales[1], mode, align); // [OW, W]
  let y = x;
  if (OW !== W || mode === 'bilinear') y = y.matmul(wrap(x.backend.upload(colsMat), [OW, W]).mT);
  if (OH !== H || mode === 'bilinear') y = wrap(x.backend.upload(rowsMat), [OH, H]).matmul(y);
  return y;
}

/** Row o holds the weights output o takes from each input position along one axis (torch's index rules). */
function resampleMatrix(size: number, out: number, scaleFactor: number | null, mode: InterpolateMode, align: boolean): Float64Array {
  const m = new Float64Array(out * size);
  // torch: the given factor's inverse when there is one, else size / out.
  const scale = scaleFactor !== null ? 1 / scaleFactor : size / out;
  for (let o = 0; o < out; o++) {
    if (mode === 'nearest') {
      // torch computes floorf(o * scale) in float32: the same rounding picks the same pixel.
      m[o * size + Math.min(Math.floor(Math.fround(o * Math.fround(scale))), size - 1)] = 1;
      continue;
    }
    let src: number;
    if (align) src = out > 1 ? (o * (size - 1)) / (out - 1) : 0;
    else src = Math.max(scale * (o + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), size - 1);
    const i1 = i0 < size - 1 ? i0 + 1 : i0;
    const l1 = src - i0;
    m[o * size + i0] += 1 - l1;
    m[o * size + i1] += l1;
  }
  return m;
}
