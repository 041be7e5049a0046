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
import { type CustomOp, type HostKernelArgs, backendFamily, defineOp } from './custom.ts';
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
 * torch's coordinate rules). Per axis, each output reads at most two inputs: the host builds
 * those taps and their weights once, and one kernel (custom-op registry: host and gpu.js, with
 * a gather-style gradient on gpu.js) applies both axes. Nearest upsampling by whole factors
 * uses its dedicated kernel.
 */
export function interpolate(x: Tensor, options: InterpolateOptions): Tensor {
  const [N, C, H, W] = nchw('interpolate', x);
  if (H === 0 || W === 0) throw new ShapeError(`interpolate: input ${fmtShape(x.shape)} has an empty spatial axis`);
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
  const rows = resampleTaps(H, OH, scales[0], mode, align);
  const cols = resampleTaps(W, OW, scales[1], mode, align);
  const upload = (values: Float64Array, shape: number[]) => wrap(x.backend.upload(values), shape);
  const attrs: ResampleAttrs = { planes: N * C, H, W, OH, OW, fanH: rows.fan, fanW: cols.fan };
  return resampleOp([x, upload(rows.taps, [OH, 4]), upload(cols.taps, [OW, 4]), upload(rows.reach, [H, 2]), upload(cols.reach, [W, 2])], attrs);
}

/**
 * Along one axis, each output o reads two inputs i0 <= i1 with weights w0, w1 (nearest: one
 * input, weight 1), by torch's index rules: `taps` is [out, 4] = (i0, i1, w0, w1). `reach` is
 * [size, 2] = (first output, count) of the outputs reading each input (a contiguous run, the
 * taps being monotonic), and `fan` the longest run: the bound of the gather-style gradient's loop.
 */
function resampleTaps(size: number, out: number, scaleFactor: number | null, mode: InterpolateMode, align: boolean) {
  const taps = new Float64Array(out * 4);
  // torch: the given factor's inverse when there is one, else size / out.
  const scale = scaleFactor !== null ? 1 / scaleFactor : size / out;
  for (let o = 0; o < out; o++) {
    let i0: number;
    let i1: number;
    let l1 = 0;
    if (mode === 'nearest') {
      // torch computes floorf(o * scale) in float32: the same rounding picks the same pixel.
      i0 = i1 = Math.min(Math.floor(Math.fround(o * Math.fround(scale))), size - 1);
    } else {
      const src = align ? (out > 1 ? (o * (size - 1)) / (out - 1) : 0) : Math.max(scale * (o + 0.5) - 0.5, 0);
      i0 = Math.min(Math.floor(src), size - 1);
      i1 = i0 < size - 1 ? i0 + 1 : i0;
      l1 = src - i0;
    }
    taps.set([i0, i1, 1 - l1, l1], o * 4);
  }
  const reach = new Float64Array(size * 2);
  for (let i = 0; i < size; i++) reach[2 * i] = out;
  for (let o = 0; o < out; o++) {
    for (const i of [taps[o * 4]!, taps[o * 4 + 1]!]) {
      reach[2 * i] = Math.min(reach[2 * i]!, o);
      reach[2 * i + 1] = Math.max(reach[2 * i + 1]!, o + 1); // the end for now
    }
  }
  let fan = 1;
  for (let i = 0; i < size; i++) {
    const count = Math.max(0, reach[2 * i + 1]! - reach[2 * i]!);
    reach[2 * i + 1] = count;
    fan = Math.max(fan, count);
  }
  return { taps, reach, fan };
}

interface ResampleAttrs {
  planes: number; H: number; W: number; OH: number; OW: number;
  /** The most outputs that read one input row / column (loop bounds of the gpu.js gradient). */
  fanH: number; fanW: number;
}

/** Inputs: x [planes, H, W], row taps [OH, 4], column taps [OW, 4], row reach [H, 2], column reach [W, 2]. */
const resampleOp: CustomOp<ResampleAttrs> = defineOp<ResampleAttrs>({
  name: 'resample2d',
  arity: 5,
  outputShape: ([s], g) => [...s!.slice(0, 2), g.OH, g.OW],
  kernels: {
    reference: resampleHost,
    native: resampleHost,
    gpujs: ({ attrs: g }) => ({
      source: `function (x, rt, ct, rr, cr) {
        ${gpuDigits('this.thread.x', 'this.constants.OW', 'q1', 'ow')}
        ${gpuDigits('q1', 'this.constants.OH', 'p', 'oh')}
        let base = p * this.constants.H;
        let r0 = (base + rt[oh * 4]) * this.constants.W;
        let r1 = (base + rt[oh * 4 + 1]) * this.constants.W;
        let c0 = ct[ow * 4];
        let c1 = ct[ow * 4 + 1];
        let top = x[r0 + c0] * ct[ow * 4 + 2] + x[r0 + c1] * ct[ow * 4 + 3];
        let bottom = x[r1 + c0] * ct[ow * 4 + 2] + x[r1 + c1] * ct[ow * 4 + 3];
        return top * rt[oh * 4 + 2] + bottom * rt[oh * 4 + 3];
      }`,
      constants: { H: g.H, W: g.W, OH: g.OH, OW: g.OW },
    }),
  },
  grad: (gy, { inputs: [, rows, cols, rowReach, colReach], attrs }) => [resampleGradOp([gy, rows!, cols!, rowReach!, colReach!], attrs), null, null, null, null],
});

function resampleHost({ inputs: [x, rt, ct], out, attrs: g }: HostKernelArgs<ResampleAttrs>): void {
  for (let p = 0; p < g.planes; p++) {
    for (let oh = 0; oh < g.OH; oh++) {
      const r0 = (p * g.H + rt![oh * 4]!) * g.W;
      const r1 = (p * g.H + rt![oh * 4 + 1]!) * g.W;
      const [u0, u1] = [rt![oh * 4 + 2]!, rt![oh * 4 + 3]!];
      for (let ow = 0; ow < g.OW; ow++) {
        const [c0, c1, v0, v1] = [ct![ow * 4]!, ct![ow * 4 + 1]!, ct![ow * 4 + 2]!, ct![ow * 4 + 3]!];
        out[(p * g.OH + oh) * g.OW + ow] = u0 * (x![r0 + c0]! * v0 + x![r0 + c1]! * v1) + u1 * (x![r1 + c0]! * v0 + x![r1 + c1]! * v1);
      }
    }
  }
}

/** The gradient of resample2d: inputs gy [planes, OH, OW] and the same tables; output [planes, H, W]. */
const resampleGradOp = defineOp<ResampleAttrs>({
  name: 'resample2dGrad',
  arity: 5,
  nonDifferentiable: true,
  outputShape: ([s], g) => [...s!.slice(0, 2), g.H, g.W],
  kernels: {
    reference: resampleGradHost,
    native: resampleGradHost,
    // Gather-style: input pixel (iy, ix) sums the outputs in its row and column reach,
    // weighted by the taps that point at it.
    gpujs: ({ attrs: g }) => ({
      source: `function (gy, rt, ct, rr, cr) {
        ${gpuDigits('this.thread.x', 'this.constants.W', 'q1', 'ix')}
        ${gpuDigits('q1', 'this.constants.H', 'p', 'iy')}
        let rs = rr[iy * 2];
        let rn = rr[iy * 2 + 1];
        let cs = cr[ix * 2];
        let cn = cr[ix * 2 + 1];
        let acc = 0;
        for (let a = 0; a < this.constants.FANH; a++) {
          if (a < rn) {
            let oh = rs + a;
            let wr = 0;
            if (rt[oh * 4] == iy) { wr = wr + rt[oh * 4 + 2]; }
            if (rt[oh * 4 + 1] == iy) { wr = wr + rt[oh * 4 + 3]; }
            for (let b = 0; b < this.constants.FANW; b++) {
              if (b < cn) {
                let ow = cs + b;
                let wc = 0;
                if (ct[ow * 4] == ix) { wc = wc + ct[ow * 4 + 2]; }
                if (ct[ow * 4 + 1] == ix) { wc = wc + ct[ow * 4 + 3]; }
                acc = acc + wr * wc * gy[(p * this.constants.OH + oh) * this.constants.OW + ow];
              }
            }
          }
        }
        return acc;
      }`,
      constants: { H: g.H, W: g.W, OH: g.OH, OW: g.OW, FANH: g.fanH, FANW: g.fanW },
    }),
  },
});

/** Scatter-style on the host: each output adds its gradient into its four taps. */
function resampleGradHost({ inputs: [gy, rt, ct], out, attrs: g }: HostKernelArgs<ResampleAttrs>): void {
  for (let p = 0; p < g.planes; p++) {
    for (let oh = 0; oh < g.OH; oh++) {
      const r0 = (p * g.H + rt![oh * 4]!) * g.W;
      const r1 = (p * g.H + rt![oh * 4 + 1]!) * g.W;
      const [u0, u1] = [rt![oh * 4 + 2]!, rt![oh * 4 + 3]!];
      for (let ow = 0; ow < g.OW; ow++) {
        const [c0, c1, v0, v1] = [ct![ow * 4]!, ct![ow * 4 + 1]!, ct![ow * 4 + 2]!, ct![ow * 4 + 3]!];
        const v = gy![(p * g.OH + oh) * g.OW + ow]!;
        out[r0 + c0]! += u0 * v0 * v;
        out[r0 + c1]! += u0 * v1 * v;
        out[r1 + c0]! += u1 * v0 * v;
        out[r1 + c1]! += u1 * v1 * v;
      }
    }
  }
}
