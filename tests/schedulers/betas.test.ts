import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arange, interpIndex, linspace, roundHalfEven } from '../../plugins/schedulers/betas.ts';
import { DDIMScheduler, DDPMScheduler, alphasCumprodOf, makeBetas, rescaleZeroTerminalSnr } from '../../plugins/schedulers/index.ts';

const SD15 = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 } as const;

describe('beta schedules and alpha-bar', () => {
  it('linear betas are linspace(betaStart, betaEnd) and alpha-bar their cumulative product', () => {
    const s = new DDPMScheduler();
    expect(s.betas.length).toBe(1000);
    expect(s.betas[0]).toBeCloseTo(1e-4, 15);
    expect(s.betas[999]).toBeCloseTo(0.02, 15);
    expect(s.betas[500]).toBeCloseTo(1e-4 + (500 * (0.02 - 1e-4)) / 999, 15);
    let prod = 1;
    for (let t = 0; t < 1000; t++) {
      prod *= 1 - s.betas[t]!;
      expect(s.alphasCumprod[t]).toBeCloseTo(prod, 14);
    }
    // the DDPM paper's schedule ends near zero signal: abar_999 = 4.04e-5
    expect(s.alphasCumprod[999]).toBeCloseTo(4.0358e-5, 8);
  });

  it('scaled_linear (SD1.5) is linspace(sqrt(b0), sqrt(b1))^2 with the known alpha-bar ends', () => {
    const s = new DDIMScheduler(SD15);
    const r0 = Math.sqrt(0.00085);
    const r1 = Math.sqrt(0.012);
    for (const t of [0, 1, 137, 500, 998, 999]) {
      expect(s.betas[t]).toBeCloseTo((r0 + ((r1 - r0) * t) / 999) ** 2, 15);
    }
    expect(s.alphasCumprod[0]).toBeCloseTo(0.99915, 10);
    expect(s.alphasCumprod[999]).toBeCloseTo(0.0047, 4);
    expect(s.alphasCumprod[999]).toBeCloseTo(0.004660, 5);
  });

  it('squaredcos_cap_v2 follows the cosine alpha-bar f(t)/f(0), f = cos((t/T + 0.008)/1.008 * pi/2)^2', () => {
    const s = new DDPMScheduler({ betaSchedule: 'squaredcos_cap_v2' });
    const f = (t: number) => Math.cos(((t / 1000 + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    // betas are capped at 0.999 only at the very end; before that alpha-bar is exactly f(t+1)/f(0)
    for (const t of [0, 10, 250, 500, 900, 990]) {
      expect(s.alphasCumprod[t]).toBeCloseTo(f(t + 1) / f(0), 12);
    }
    expect(s.betas[999]).toBe(0.999);
    expect(Math.max(...s.betas)).toBeLessThanOrEqual(0.999);
  });

  it('sigmoid betas are sigmoid(linspace(-6, 6)) scaled into [betaStart, betaEnd]', () => {
    const betas = makeBetas({ numTrainTimesteps: 10, betaStart: 0.001, betaEnd: 0.02, betaSchedule: 'sigmoid', trainedBetas: null, rescaleBetasZeroSnr: false });
    const x = -6 + (12 * 3) / 9;
    expect(betas[3]).toBeCloseTo((1 / (1 + Math.exp(-x))) * 0.019 + 0.001, 15);
  });

  it('trainedBetas override the schedule and must have numTrainTimesteps values', () => {
    const s = new DDPMScheduler({ numTrainTimesteps: 3, trainedBetas: [0.1, 0.2, 0.5] });
    expect(Array.from(s.alphasCumprod)).toEqual([0.9, 0.9 * 0.8, 0.9 * 0.8 * 0.5]);
    expect(() => new DDPMScheduler({ numTrainTimesteps: 4, trainedBetas: [0.1, 0.2, 0.5] })).toThrow(/trainedBetas has 3 values, numTrainTimesteps is 4/);
  });

  it('rescaleBetasZeroSnr gives zero terminal SNR, keeps abar_0, and is affine in sqrt(abar)', () => {
    const betas = makeBetas({ numTrainTimesteps: 1000, betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', trainedBetas: null, rescaleBetasZeroSnr: false });
    const before = alphasCumprodOf(betas).map(Math.sqrt);
    const after = alphasCumprodOf(rescaleZeroTerminalSnr(betas)).map(Math.sqrt);
    expect(after[999]).toBeCloseTo(0, 12);
    expect(after[0]).toBeCloseTo(before[0]!, 12);
    const scale = before[0]! / (before[0]! - before[999]!);
    for (const t of [1, 300, 700, 998]) expect(after[t]).toBeCloseTo((before[t]! - before[999]!) * scale, 12);
  });

  it('property: alpha-bar is the product of (1 - beta) and strictly decreasing for any valid linear schedule', () => {
    fc.assert(fc.property(
      fc.integer({ min: 2, max: 60 }),
      fc.double({ min: 1e-5, max: 0.05, noNaN: true }),
      fc.double({ min: 0, max: 0.4, noNaN: true }),
      fc.constantFrom('linear' as const, 'scaled_linear' as const, 'squaredcos_cap_v2' as const),
      (n, b0, extra, schedule) => {
        const s = new DDPMScheduler({ numTrainTimesteps: n, betaStart: b0, betaEnd: b0 + extra, betaSchedule: schedule });
        let prod = 1;
        for (let t = 0; t < n; t++) {
          prod *= 1 - s.betas[t]!;
          if (Math.abs(s.alphasCumprod[t]! - prod) > 1e-12) return false;
          if (t > 0 && !(s.alphasCumprod[t]! < s.alphasCumprod[t - 1]!)) return false;
        }
        return true;
      },
    ), { numRuns: 60 });
  });
});

describe('numpy helpers behind the timestep choice', () => {
  it('roundHalfEven rounds halves to the even neighbour like np.round', () => {
    expect([0.5, 1.5, 2.5, 812.5, 937.5, -1.5, -2.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, 812, 938, -2, -2, 2, 3]);
  });
  it('arange with a float step has numpy length and values', () => {
    // numpy: np.arange(1000, 0, -1000/3) and -1000/7 (values printed by numpy 2.4)
    expect(Array.from(arange(1000, 0, -1000 / 3))).toEqual([1000, 666.6666666666667, 333.3333333333335]);
    expect(Array.from(arange(1000, 0, -1000 / 7))).toEqual([1000, 857.1428571428571, 714.2857142857142, 571.4285714285713, 428.57142857142844, 285.71428571428555, 142.85714285714266]);
    expect(arange(1000, 0, -62.5).length).toBe(16);
  });
  it('linspace ends exactly at its end point and interp is piecewise linear', () => {
    const l = linspace(0, 999, 50);
    expect(l[49]).toBe(999);
    expect(l[1]).toBeCloseTo(999 / 49, 12);
    const fp = Float64Array.from([0, 10, 30]);
    expect([interpIndex(-1, fp), interpIndex(0.25, fp), interpIndex(1.5, fp), interpIndex(2, fp), interpIndex(5, fp)]).toEqual([0, 2.5, 20, 30, 30]);
  });
});
