/**
 * The ablation's measures, per sample, on images [N, 3, H, W] in [0, 1] (host-side: a few dozen
 * validation images):
 *  - `psnr`, `ssim`: the whole image (plugins/diffusion/metrics.ts);
 *  - `psnr_teeth`: PSNR over the tooth pixels only (mask from the sample's segmentation map:
 *    the palette's tooth colours, neither gum nor background, as the mask-composite blender
 *    reads it);
 *  - `ssim_teeth`: the SSIM map (same Gaussian window) averaged over the windows centred on a
 *    tooth pixel;
 *  - `detail_teeth`: gradient-magnitude similarity (GMS, Xue et al. 2014, "GMSD") of the
 *    luminance inside the teeth: (2 g_o g_t + c) / (g_o^2 + g_t^2 + c) per pixel with Prewitt
 *    gradients, averaged over tooth pixels. 1 when every edge of the target is there with its
 *    strength; a blurred or flattened tooth drops it;
 *  - `sharpness_teeth`: the output's total gradient magnitude over the target's inside the
 *    teeth (1: as much detail as the target; < 1 blurred, > 1 extra texture).
 * Then the summaries: mean with a 95% confidence interval over samples (Student t), the paired
 * difference against a reference arm on the same samples, and over training seeds the mean of
 * the per-seed means and their spread.
 */
import { teethMask } from '../../../plugins/blenders/mask-composite.ts';
import { filterValid, gaussianWindow, psnr, ssim } from '../../../plugins/diffusion/metrics.ts';
import type { Tensor } from '../../../core/tensor.ts';
import { ShapeError, fmtShape } from '../../../core/errors.ts';
import { tensorToImages } from './evaluate.ts';

export const METRIC_NAMES = ['psnr', 'ssim', 'psnr_teeth', 'ssim_teeth', 'detail_teeth', 'sharpness_teeth'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];
export type SampleMetrics = Record<MetricName, number>;

const SSIM_WINDOW = 11;
/** GMSD's stability constant (170 on 0..255 data), on [0, 1] data. */
const GMS_C = 170 / 255 ** 2;

/** One tooth mask (H*W, 1 = tooth) per segmentation map of a batch [N, 3, H, W] in [0, 1]. */
export function toothMasks(segmentation: Tensor): Uint8Array[] {
  return tensorToImages(segmentation).map((img) => teethMask(img));
}

function planes(t: Tensor): { n: number; c: number; h: number; w: number; v: Float32Array } {
  const [n, c, h, w] = t.shape as [number, number, number, number];
  return { n, c, h, w, v: t.toArray() as Float32Array };
}

function checkShapes(a: Tensor, b: Tensor, masks: readonly Uint8Array[], op: string): void {
  if (a.ndim !== 4 || a.shape.some((d, i) => d !== b.shape[i])) throw new ShapeError(`${op}: images must be two [N, C, H, W] tensors of one shape, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const [n, , h, w] = a.shape as [number, number, number, number];
  if (masks.length !== n || masks.some((m) => m.length !== h * w)) throw new ShapeError(`${op}: need ${n} masks of ${h}x${w} pixels, got ${masks.length}`);
}

/** PSNR (dB) over the masked pixels of each image; NaN where a mask is empty, Infinity where they agree exactly. */
export function maskedPsnr(a: Tensor, b: Tensor, masks: readonly Uint8Array[]): number[] {
  checkShapes(a, b, masks, 'maskedPsnr');
  const x = planes(a), y = b.toArray();
  const plane = x.h * x.w;
  return masks.map((m, i) => {
    let se = 0, count = 0;
    for (let ch = 0; ch < x.c; ch++) {
      const off = (i * x.c + ch) * plane;
      for (let p = 0; p < plane; p++) if (m[p]) { se += (x.v[off + p]! - y[off + p]!) ** 2; count++; }
    }
    if (!count) return NaN;
    return se === 0 ? Infinity : 10 * Math.log10(count / se);
  });
}

/**
 * SSIM of each image averaged over the valid windows whose centre pixel is masked (channel
 * mean). With a full mask this is exactly `ssim` of plugins/diffusion/metrics.ts. NaN where no
 * window centre is masked (or the image is smaller than the 11-pixel window).
 */
export function maskedSsim(a: Tensor, b: Tensor, masks: readonly Uint8Array[]): number[] {
  checkShapes(a, b, masks, 'maskedSsim');
  const x = planes(a), y = b.toArray();
  const { c, h, w } = x, plane = h * w, k = SSIM_WINDOW, r = (k - 1) / 2;
  if (h < k || w < k) return masks.map(() => NaN);
  const g = gaussianWindow(k, 1.5), C1 = 0.01 ** 2, C2 = 0.03 ** 2, ow = w - k + 1, oh = h - k + 1;
  return masks.map((m, i) => {
    let total = 0, windows = 0;
    for (let ch = 0; ch < c; ch++) {
      const off = (i * c + ch) * plane;
      const X = new Float64Array(plane), Y = new Float64Array(plane), XX = new Float64Array(plane), YY = new Float64Array(plane), XY = new Float64Array(plane);
      for (let p = 0; p < plane; p++) {
        const u = x.v[off + p]!, v = y[off + p]!;
        X[p] = u; Y[p] = v; XX[p] = u * u; YY[p] = v * v; XY[p] = u * v;
      }
      const [mx, my, mxx, myy, mxy] = [X, Y, XX, YY, XY].map((t) => filterValid(t, h, w, g)) as Float64Array[];
      for (let oy = 0; oy < oh; oy++) for (let ox = 0; ox < ow; ox++) {
        if (!m[(oy + r) * w + ox + r]) continue;
        const p = oy * ow + ox;
        const vx = mxx![p]! - mx![p]! ** 2, vy = myy![p]! - my![p]! ** 2, cxy = mxy![p]! - mx![p]! * my![p]!;
        total += ((2 * mx![p]! * my![p]! + C1) * (2 * cxy + C2)) / ((mx![p]! ** 2 + my![p]! ** 2 + C1) * (vx + vy + C2));
        windows++;
      }
    }
    return windows ? total / windows : NaN;
  });
}

/** Rec. 601 luminance of image `i` (H*W); a one-channel image is its own luminance. */
function luminance(t: { c: number; h: number; w: number; v: Float32Array | ArrayLike<number> }, i: number): Float64Array {
  const plane = t.h * t.w, out = new Float64Array(plane);
  const at = (ch: number, p: number) => t.v[(i * t.c + ch) * plane + p]!;
  for (let p = 0; p < plane; p++) out[p] = t.c === 1 ? at(0, p) : 0.299 * at(0, p) + 0.587 * at(1, p) + 0.114 * at(2, p);
  return out;
}

/** Prewitt gradient magnitude (each kernel / 3), replicated borders. */
export function gradientMagnitude(lum: Float64Array, h: number, w: number): Float64Array {
  const out = new Float64Array(h * w);
  const at = (y: number, x: number) => lum[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))]!;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    let gx = 0, gy = 0;
    for (let d = -1; d <= 1; d++) {
      gx += at(y + d, x + 1) - at(y + d, x - 1);
      gy += at(y + 1, x + d) - at(y - 1, x + d);
    }
    out[y * w + x] = Math.hypot(gx / 3, gy / 3);
  }
  return out;
}

/** Per image: mean gradient-magnitude similarity over the masked pixels, and the output's over the target's gradient energy there. */
export function toothDetail(output: Tensor, target: Tensor, masks: readonly Uint8Array[]): { gms: number[]; sharpness: number[] } {
  checkShapes(output, target, masks, 'toothDetail');
  const o = planes(output), t = planes(target);
  const gms: number[] = [], sharpness: number[] = [];
  masks.forEach((m, i) => {
    const go = gradientMagnitude(luminance(o, i), o.h, o.w), gt = gradientMagnitude(luminance(t, i), t.h, t.w);
    let s = 0, count = 0, eo = 0, et = 0;
    for (let p = 0; p < m.length; p++) {
      if (!m[p]) continue;
      s += (2 * go[p]! * gt[p]! + GMS_C) / (go[p]! ** 2 + gt[p]! ** 2 + GMS_C);
      eo += go[p]!; et += gt[p]!;
      count++;
    }
    gms.push(count ? s / count : NaN);
    sharpness.push(count && et > 0 ? eo / et : NaN);
  });
  return { gms, sharpness };
}

/** Every measure for every sample of a batch: output and target [N, 3, H, W] in [0, 1], tooth masks from the segmentation maps. */
export function ablationMetrics(output: Tensor, target: Tensor, masks: readonly Uint8Array[]): SampleMetrics[] {
  checkShapes(output, target, masks, 'ablationMetrics');
  const [, , h, w] = target.shape as number[];
  const p = psnr(output, target);
  const s = h! >= SSIM_WINDOW && w! >= SSIM_WINDOW ? ssim(output, target) : p.map(() => NaN);
  const pt = maskedPsnr(output, target, masks), st = maskedSsim(output, target, masks), d = toothDetail(output, target, masks);
  return p.map((_, i) => ({ psnr: p[i]!, ssim: s[i]!, psnr_teeth: pt[i]!, ssim_teeth: st[i]!, detail_teeth: d.gms[i]!, sharpness_teeth: d.sharpness[i]! }));
}

/** Two-sided 95% Student t quantiles by degrees of freedom (1..30); the normal 1.96 beyond. */
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
export function t95(df: number): number {
  return df < 1 ? NaN : df <= T95.length ? T95[df - 1]! : 1.96;
}

export interface Summary {
  mean: number;
  /** Half-width of the 95% confidence interval of the mean (NaN with fewer than 2 values). */
  ci95: number;
  /** Finite values the summary is over (NaN values: empty masks; Infinity: exact agreement are left out). */
  n: number;
}

/** Mean and 95% CI half-width over the finite values. */
export function summarize(values: readonly number[]): Summary {
  const f = values.filter(Number.isFinite), n = f.length;
  if (!n) return { mean: NaN, ci95: NaN, n: 0 };
  const mean = f.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, ci95: NaN, n };
  const variance = f.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, ci95: t95(n - 1) * Math.sqrt(variance / n), n };
}

/**
 * The mean difference a - b over samples measured on both (the same validation samples and
 * sampling seed, so the pairing removes the spread between samples), with its 95% interval.
 */
export function pairedDifference(a: readonly number[], b: readonly number[]): Summary {
  if (a.length !== b.length) throw new RangeError(`pairedDifference: ${a.length} values against ${b.length}`);
  return summarize(a.map((x, i) => x - b[i]!).filter(Number.isFinite));
}

export interface SeedSummary {
  /** The mean over seeds of each seed's sample mean. */
  mean: number;
  /** The mean over seeds of each seed's CI half-width over samples. */
  ci95: number;
  /** Between-seed spread: the standard deviation of the per-seed means (NaN with one seed), and their range. */
  seedStd: number;
  seedMin: number;
  seedMax: number;
  seeds: number;
}

/** Combines per-seed summaries of one measure. */
export function acrossSeeds(perSeed: readonly Summary[]): SeedSummary {
  const means = perSeed.map((s) => s.mean).filter(Number.isFinite);
  const k = means.length;
  const mean = k ? means.reduce((a, b) => a + b, 0) / k : NaN;
  const cis = perSeed.map((s) => s.ci95).filter(Number.isFinite);
  return {
    mean,
    ci95: cis.length ? cis.reduce((a, b) => a + b, 0) / cis.length : NaN,
    seedStd: k >= 2 ? Math.sqrt(means.reduce((a, b) => a + (b - mean) ** 2, 0) / (k - 1)) : NaN,
    seedMin: k ? Math.min(...means) : NaN,
    seedMax: k ? Math.max(...means) : NaN,
    seeds: k,
  };
}
