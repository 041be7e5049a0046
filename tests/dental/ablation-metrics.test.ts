/**
 * The ablation's measures on hand-made images: the tooth mask from palette colours, PSNR and
 * SSIM restricted to it, the gradient-magnitude detail measure, and the summaries (t-interval,
 * across seeds), each against values worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { setDefaultBackend } from '../../core/backends/default.ts';
import { ReferenceBackend } from '../../core/backends/reference.ts';
import { tensor } from '../../core/ops/creation.ts';
import {
  ablationMetrics, acrossSeeds, gradientMagnitude, maskedPsnr, maskedSsim, pairedDifference, summarize, t95, toothDetail, toothMasks,
} from '../../examples/dental/recipe/ablation-metrics.ts';
import { GUM_COLOR, toothColor } from '../../examples/dental/palette.ts';
import { ssim } from '../../plugins/diffusion/metrics.ts';

setDefaultBackend(new ReferenceBackend());

/** [1, C, H, W] from a per-pixel function. */
function image(h: number, w: number, f: (y: number, x: number, c: number) => number, c = 3) {
  const v = new Float32Array(c * h * w);
  for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) v[(k * h + y) * w + x] = f(y, x, k);
  return tensor(v, [1, c, h, w]);
}
const full = (h: number, w: number) => [new Uint8Array(h * w).fill(1)];

describe('ablation metrics', () => {
  it('toothMasks: palette tooth colours are teeth, the gum colour and black background are not', () => {
    const tooth = toothColor(11), gum = GUM_COLOR;
    // columns 0-1 background, 2-3 gum, 4-5 tooth
    const seg = image(2, 6, (_, x, c) => (x < 2 ? 0 : x < 4 ? gum[c]! / 255 : tooth[c]! / 255));
    expect([...toothMasks(seg)[0]!]).toEqual([0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1]);
  });

  it('maskedPsnr counts only masked pixels: an error of 0.1 there is 20 dB whatever happens outside', () => {
    const mask = new Uint8Array(16).map((_, p) => (p % 4 < 2 ? 1 : 0));
    const a = image(4, 4, () => 0.5);
    const b = image(4, 4, (_, x) => (x < 2 ? 0.6 : 0.9));
    expect(maskedPsnr(a, b, [mask])[0]).toBeCloseTo(20, 4);
    expect(maskedPsnr(a, a, [mask])[0]).toBe(Infinity);
    expect(maskedPsnr(a, b, [new Uint8Array(16)])[0]).toBeNaN();
  });

  it('maskedSsim over a full mask is plugins/diffusion ssim; over a mask it ignores what lies outside every masked window', () => {
    const a = image(16, 16, (y, x, c) => ((x * 7 + y * 3 + c) % 11) / 10);
    const b = image(16, 16, (y, x, c) => ((x * 5 + y * 2 + c) % 7) / 6);
    expect(maskedSsim(a, b, full(16, 16))[0]).toBeCloseTo(ssim(a, b)[0]!, 10);
    expect(maskedSsim(a, a, full(16, 16))[0]).toBeCloseTo(1, 10);
    // mask = the pixel (5, 5) only: one window (rows/cols 0..10); change b outside it -> same value
    const one = new Uint8Array(256); one[5 * 16 + 5] = 1;
    const b2 = image(16, 16, (y, x, c) => (y > 10 || x > 10 ? 0 : ((x * 5 + y * 2 + c) % 7) / 6));
    const v = maskedSsim(a, b, [one])[0]!;
    expect(v).toBeCloseTo(maskedSsim(a, b2, [one])[0]!, 12);
    expect(v).not.toBeCloseTo(ssim(a, b)[0]!, 3);
    expect(maskedSsim(a, b, [new Uint8Array(256)])[0]).toBeNaN();
    expect(maskedSsim(image(8, 8, () => 0), image(8, 8, () => 0), full(8, 8))[0]).toBeNaN(); // smaller than the window
  });

  it('gradientMagnitude: a unit step has magnitude 1 on both sides of it and 0 elsewhere', () => {
    const lum = new Float64Array(8 * 8).map((_, p) => (p % 8 >= 4 ? 1 : 0));
    const g = gradientMagnitude(lum, 8, 8);
    for (let y = 0; y < 8; y++) expect([...g.slice(y * 8, y * 8 + 8)]).toEqual([0, 0, 0, 1, 1, 0, 0, 0]);
  });

  it('toothDetail: a flat output loses the target\'s edge (GMS c/(1+c) there, sharpness 0); the target itself scores 1 and 1', () => {
    const target = image(8, 8, (_, x) => (x >= 4 ? 1 : 0));
    const flat = image(8, 8, () => 0.5);
    const c = 170 / 255 ** 2;
    const d = toothDetail(flat, target, full(8, 8));
    expect(d.gms[0]).toBeCloseTo((48 + 16 * (c / (1 + c))) / 64, 10);
    expect(d.sharpness[0]).toBe(0);
    const same = toothDetail(target, target, full(8, 8));
    expect(same.gms[0]).toBeCloseTo(1, 12);
    expect(same.sharpness[0]).toBeCloseTo(1, 12);
    // a half-height step: gradient 0.5 where the target has 1 -> (2*0.5 + c) / (1.25 + c)
    const half = toothDetail(image(8, 8, (_, x) => (x >= 4 ? 0.5 : 0)), target, full(8, 8));
    expect(half.gms[0]).toBeCloseTo((48 + 16 * ((1 + c) / (1.25 + c))) / 64, 10);
    expect(half.sharpness[0]).toBeCloseTo(0.5, 10);
    // the mask picks the pixels: away from the edge, the flat output is perfect
    const away = new Uint8Array(64).map((_, p) => (p % 8 === 0 ? 1 : 0));
    expect(toothDetail(flat, target, [away]).gms[0]).toBeCloseTo(1, 12);
  });

  it('ablationMetrics: one record a sample with every measure', () => {
    const seg = image(12, 12, (_, x, c) => (x < 6 ? 0 : toothColor(21)[c]! / 255));
    const masks = toothMasks(seg);
    const target = image(12, 12, (y, x) => ((x + y) % 3) / 2);
    const out = image(12, 12, (y, x) => ((x + 2 * y) % 3) / 2);
    const [m] = ablationMetrics(out, target, masks);
    expect(Object.keys(m!).sort()).toEqual(['detail_teeth', 'psnr', 'psnr_teeth', 'sharpness_teeth', 'ssim', 'ssim_teeth']);
    for (const v of Object.values(m!)) expect(Number.isFinite(v)).toBe(true);
    expect(m!.psnr_teeth).toBeCloseTo(maskedPsnr(out, target, masks)[0]!, 12);
  });

  it('summarize: the Student-t 95% interval; acrossSeeds: mean of seed means and their spread', () => {
    const s = summarize([1, 2, 3, NaN, Infinity]);
    expect(s.n).toBe(3);
    expect(s.mean).toBe(2);
    expect(s.ci95).toBeCloseTo(4.303 / Math.sqrt(3), 10);
    expect(summarize([5]).ci95).toBeNaN();
    expect(summarize([]).n).toBe(0);
    expect(t95(1)).toBe(12.706);
    expect(t95(100)).toBe(1.96);
    const a = acrossSeeds([{ mean: 10, ci95: 1, n: 8 }, { mean: 12, ci95: 3, n: 8 }]);
    expect(a).toEqual({ mean: 11, ci95: 2, seedStd: Math.SQRT2, seedMin: 10, seedMax: 12, seeds: 2 });
    expect(acrossSeeds([{ mean: 10, ci95: 1, n: 8 }]).seedStd).toBeNaN();
    // paired: a constant shift on widely spread samples has a zero-width interval; unpaired it would not
    const d = pairedDifference([10.5, 20.5, 30.5, NaN], [10, 20, 30, 1]);
    expect(d).toEqual({ mean: 0.5, ci95: 0, n: 3 });
    expect(() => pairedDifference([1], [1, 2])).toThrow(/1 values against 2/);
  });
});
