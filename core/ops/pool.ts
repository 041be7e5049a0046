/**
 * Spatial resampling on [N, C, H, W]: nearest upsampling, interpolate (nearest, bilinear),
 * average and max pooling.
 */
import { attach, noGrad } from '../autograd.ts';
import type { Pool2dGeometry } from '../backend.ts';
import { ArgumentError, ShapeError, fmtShape } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { where } from './binary.ts';
import { concat, pad } from './concat.ts';
import { type Pair, pair } from './conv.ts';
import { arange } from './creation.ts';
import { argmax } from './reduce.ts';
import { dense, wrap } from './util.ts';
import { slice } from './views.ts';

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

/** The lowest finite float32: the padding value (an infinite fill would be NaN-prone on GL). */
const LOWEST = -3.4028234663852886e38;

/** torch's pooling output size for one axis, with ceil_mode's rule that a window starts inside the input or left padding. */
function poolOutSize(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

/**
 * Max pooling (torch.nn.functional.max_pool2d): the window maxima; the gradient goes to the
 * first maximum of each window in row-major order, as in torch. Composed from strided views
 * of the padded input (one per kernel position), so every backend runs it with its own
 * kernels. Padding is the lowest finite float32: a window holding only -Infinity values
 * and padding gives that instead of -Infinity (a window of padding alone gives -Infinity).
 */
export function maxPool2d(x: Tensor, kernel: Pair, options: MaxPool2dOptions = {}): Tensor {
  const [N, C, H, W] = nchw('maxPool2d', x);
  const [kh, kw] = pair('maxPool2d', 'kernel', kernel, 1);
  const [sh, sw] = pair('maxPool2d', 'stride', options.stride ?? kernel, 1);
  const [ph, pw] = pair('maxPool2d', 'padding', options.padding ?? 0, 0);
  const [dh, dw] = pair('maxPool2d', 'dilation', options.dilation ?? 1, 1);
  if (ph > (dh * (kh - 1) + 1) / 2 || pw > (dw * (kw - 1) + 1) / 2) {
    throw new ArgumentError(`maxPool2d: padding ${ph}x${pw} must be at most half the kernel ${kh}x${kw} (dilation ${dh}x${dw})`);
  }
  const ceil = options.ceilMode ?? false;
  const OH = poolOutSize(H, kh, sh, ph, dh, ceil);
  const OW = poolOutSize(W, kw, sw, pw, dw, ceil);
  if (OH < 1 || OW < 1) throw new ShapeError(`maxPool2d: kernel ${kh}x${kw} (dilation ${dh}x${dw}) does not fit input ${fmtShape(x.shape)} with padding ${ph}x${pw}`);
  // ceil mode's last window may reach past the right padding: pad that far too.
  const extraH = Math.max(0, (OH - 1) * sh + dh * (kh - 1) + 1 - (H + 2 * ph));
  const extraW = Math.max(0, (OW - 1) * sw + dw * (kw - 1) + 1 - (W + 2 * pw));
  const padded = ph || pw || extraH || extraW ? pad(x, [pw, pw + extraW, ph, ph + extraH], LOWEST) : x;
  const windows: Tensor[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const rows = slice(padded, 2, i * dh, i * dh + (OH - 1) * sh + 1, sh);
      windows.push(slice(rows, 3, j * dw, j * dw + (OW - 1) * sw + 1, sw).reshape([1, N, C, OH, OW]));
    }
  }
  const stacked = windows.length === 1 ? windows[0]! : concat(windows, 0);
  // Keep the first maximum of each window: the tape then routes the gradient to it alone.
  const first = noGrad(() => {
    const best = argmax(stacked, 0, true);
    return arange(kh * kw, undefined, 1, { backend: x.backend }).reshape([kh * kw, 1, 1, 1, 1]).eq(best);
  });
  const out = where(first, stacked, 0).sum(0);
  // With dilation, a window can fall entirely on padding: torch's -infinity there.
  const rowHit = Array.from({ length: OH }, (_, o) => Array.from({ length: kh }, (_, i) => o * sh - ph + i * dh).some((r) => r >= 0 && r < H));
  const colHit = Array.from({ length: OW }, (_, o) => Array.from({ length: kw }, (_, j) => o * sw - pw + j * dw).some((c) => c >= 0 && c < W));
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
