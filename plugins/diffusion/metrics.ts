/**
 * Image quality against a reference, per image of a batch [N, C, H, W] with values in [0, 1]:
 *  - PSNR = 10 log10(1 / MSE) in dB (infinite for identical images);
 *  - SSIM (Wang et al. 2004) with an 11x11 Gaussian window (sigma 1.5), K1 0.01, K2 0.03,
 *    data range 1, over the valid window positions, averaged over channels (skimage's
 *    `structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
 *    data_range=1, channel_axis=0)`).
 * Computed on the host: evaluation runs on a handful of validation images.
 */
import { ArgumentError, ShapeError, type Tensor } from '../../core/index.ts';
import { fmtShape } from '../../core/errors.ts';

function checkPair(a: Tensor, b: Tensor, op: string): [number, number, number, number] {
  if (a.ndim !== 4 || b.ndim !== 4 || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new ShapeError(`${op}: images must be two [N, C, H, W] tensors of one shape, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  return a.shape as [number, number, number, number];
}

/** PSNR in dB of each image of `a` against the same image of `b` (values in [0, 1]). */
export function psnr(a: Tensor, b: Tensor): number[] {
  const [n, c, h, w] = checkPair(a, b, 'psnr');
  const x = a.toArray(), y = b.toArray(), per = c * h * w;
  return Array.from({ length: n }, (_, i) => {
    let se = 0;
    for (let k = i * per; k < (i + 1) * per; k++) se += (x[k]! - y[k]!) ** 2;
    return se === 0 ? Infinity : 10 * Math.log10(per / se);
  });
}

/** A normalised 1-D Gaussian of `size` taps (SSIM's window is 11 taps, sigma 1.5). */
export function gaussianWindow(size: number, sigma: number): Float64Array {
  const g = new Float64Array(size), r = (size - 1) / 2;
  let sum = 0;
  for (let i = 0; i < size; i++) sum += g[i] = Math.exp(-((i - r) ** 2) / (2 * sigma * sigma));
  for (let i = 0; i < size; i++) g[i]! /= sum;
  return g;
}

/** Separable weighted mean of `img` (h x w) at every valid window position. */
export function filterValid(img: Float64Array, h: number, w: number, g: Float64Array): Float64Array {
  const k = g.length, oh = h - k + 1, ow = w - k + 1;
  const rows = new Float64Array(h * ow);
  for (let y = 0; y < h; y++) for (let x = 0; x < ow; x++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += g[j]! * img[y * w + x + j]!;
    rows[y * ow + x] = s;
  }
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += g[j]! * rows[(y + j) * ow + x]!;
    out[y * ow + x] = s;
  }
  return out;
}

/** SSIM of each image of `a` against the same image of `b` (values in [0, 1]; sides >= 11). */
export function ssim(a: Tensor, b: Tensor): number[] {
  const [n, c, h, w] = checkPair(a, b, 'ssim');
  const size = 11;
  if (h < size || w < size) throw new ArgumentError(`ssim: images must be at least ${size}x${size} (the window), got ${h}x${w}`);
  const g = gaussianWindow(size, 1.5);
  const C1 = 0.01 ** 2, C2 = 0.03 ** 2;
  const x = a.toArray(), y = b.toArray(), plane = h * w;
  return Array.from({ length: n }, (_, i) => {
    let total = 0;
    for (let ch = 0; ch < c; ch++) {
      const off = (i * c + ch) * plane;
      const X = new Float64Array(plane), Y = new Float64Array(plane), XX = new Float64Array(plane), YY = new Float64Array(plane), XY = new Float64Array(plane);
      for (let p = 0; p < plane; p++) {
        const u = x[off + p]!, v = y[off + p]!;
        X[p] = u; Y[p] = v; XX[p] = u * u; YY[p] = v * v; XY[p] = u * v;
      }
      const [mx, my, mxx, myy, mxy] = [X, Y, XX, YY, XY].map((m) => filterValid(m, h, w, g)) as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
      let s = 0;
      for (let p = 0; p < mx.length; p++) {
        const vx = mxx[p]! - mx[p]! ** 2, vy = myy[p]! - my[p]! ** 2, cxy = mxy[p]! - mx[p]! * my[p]!;
        s += ((2 * mx[p]! * my[p]! + C1) * (2 * cxy + C2)) / ((mx[p]! ** 2 + my[p]! ** 2 + C1) * (vx + vy + C2));
      }
      total += s / mx.length;
    }
    return total / c;
  });
}

/** The mean of finite values (PSNR of identical images is infinite and would swamp a mean). */
export function meanFinite(values: readonly number[]): number {
  const f = values.filter(Number.isFinite);
  return f.length ? f.reduce((s, v) => s + v, 0) / f.length : NaN;
}
