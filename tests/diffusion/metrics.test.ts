import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tensor } from '../../core/index.ts';
import { meanFinite, psnr, ssim } from '../../plugins/diffusion/metrics.ts';

/** The inputs of the golden values (tests/fixtures-free: PyTorch, float64, printed once). */
function pair(): { a: number[]; b: number[] } {
  const a: number[] = [], b: number[] = [];
  for (let i = 0; i < 3 * 16 * 16; i++) {
    const v = (((Math.sin(i * 12.9898) * 43758.5453) % 1) + 1) % 1;
    a.push(v);
    b.push(Math.min(1, Math.max(0, v * 0.7 + 0.15 * (Math.cos(i * 0.37) + 1))));
  }
  return { a, b };
}

describe('image metrics', () => {
  it('match PyTorch (float64 conv2d with the 11x11 Gaussian window) on a fixed pair', () => {
    const { a, b } = pair();
    const A = tensor(a, [1, 3, 16, 16]), B = tensor(b, [1, 3, 16, 16]);
    // /usr/bin/python3: torch conv2d(groups=3) of the separable Gaussian, valid positions; K1 .01, K2 .03
    expect(ssim(A, B)[0]).toBeCloseTo(0.8905507962006654, 4);
    expect(psnr(A, B)[0]).toBeCloseTo(17.570267340857164, 3);
  });

  it('identical images: SSIM 1 and PSNR infinite (left out of meanFinite); symmetric; worse with more noise', () => {
    fc.assert(fc.property(fc.array(fc.float({ min: 0, max: 1, noNaN: true }), { minLength: 2 * 3 * 12 * 12, maxLength: 2 * 3 * 12 * 12 }), fc.integer({ min: 0, max: 1000 }), (vals, seed) => {
      const x = tensor(vals, [2, 3, 12, 12]);
      expect(ssim(x, x).every((s) => Math.abs(s - 1) < 1e-9)).toBe(true);
      expect(psnr(x, x)).toEqual([Infinity, Infinity]);
      const noise = (amp: number) => tensor(vals.map((v, i) => Math.min(1, Math.max(0, v + amp * Math.sin(i * 7.1 + seed)))), [2, 3, 12, 12]);
      const small = noise(0.05), big = noise(0.3);
      const [s1, s2] = [ssim(x, small), ssim(x, big)];
      expect(ssim(small, x)[0]).toBeCloseTo(s1[0]!, 9);
      expect(psnr(x, small)[0]!).toBeGreaterThan(psnr(x, big)[0]!);
      expect(s1[0]!).toBeGreaterThan(s2[0]!);
    }), { numRuns: 15 });
    expect(meanFinite([Infinity, 10, 20])).toBe(15);
  });

  it('refuses mismatched shapes and images smaller than the window', () => {
    expect(() => psnr(tensor(new Float32Array(48), [1, 3, 4, 4]), tensor(new Float32Array(96), [2, 3, 4, 4]))).toThrow(/one shape/);
    expect(() => ssim(tensor(new Float32Array(48), [1, 3, 4, 4]), tensor(new Float32Array(48), [1, 3, 4, 4]))).toThrow(/at least 11x11/);
  });
});
