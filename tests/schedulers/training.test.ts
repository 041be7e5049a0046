import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend, randn, tensor } from '../../core/index.ts';
import { DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler } from '../../plugins/schedulers/index.ts';
import { maxAbsDiff } from './helpers.ts';

const SD15 = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 } as const;

describe('forward process: addNoise and getVelocity', () => {
  const s = new DDPMScheduler(SD15);
  const x0 = randn([3, 2, 2, 2], { seed: 1 });
  const noise = randn([3, 2, 2, 2], { seed: 2 });

  it('addNoise is sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, per sample', () => {
    const ts = [0, 500, 999];
    const xt = s.addNoise(x0, noise, ts);
    const a = x0.toArray();
    const n = noise.toArray();
    const got = xt.toArray();
    for (let i = 0; i < got.length; i++) {
      const abar = s.alphasCumprod[ts[Math.floor(i / 8)]!]!;
      expect(got[i]).toBeCloseTo(Math.sqrt(abar) * a[i]! + Math.sqrt(1 - abar) * n[i]!, 5);
    }
  });

  it('timesteps may be one number, an array or a [N] tensor, with the same result', () => {
    const viaArray = s.addNoise(x0, noise, [250, 250, 250]);
    expect(maxAbsDiff(s.addNoise(x0, noise, 250), viaArray)).toBe(0);
    expect(maxAbsDiff(s.addNoise(x0, noise, tensor([250, 250, 250])), viaArray)).toBe(0);
    expect(maxAbsDiff(s.getVelocity(x0, noise, tensor([1, 2, 3])), s.getVelocity(x0, noise, [1, 2, 3]))).toBe(0);
  });

  it('getVelocity is sqrt(abar) noise - sqrt(1 - abar) x0', () => {
    const v = s.getVelocity(x0, noise, [10, 400, 990]);
    const want = [10, 400, 990].map((t, i) => {
      const abar = s.alphasCumprod[t]!;
      return noise.slice(0, i, i + 1).mul(Math.sqrt(abar)).sub(x0.slice(0, i, i + 1).mul(Math.sqrt(1 - abar)));
    });
    want.forEach((w, i) => expect(maxAbsDiff(v.slice(0, i, i + 1), w)).toBeLessThan(1e-6));
  });

  it('property: (x_t, v) determine x0 = sqrt(a) x_t - sqrt(1-a) v and eps = sqrt(a) v + sqrt(1-a) x_t', () => {
    const backend = new ReferenceBackend({ precision: 'float64' });
    fc.assert(fc.property(fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 1000 }), (t, seed) => {
      const a = s.alphasCumprod[t]!;
      const x = randn([4], { seed, backend });
      const e = randn([4], { seed: seed + 7, backend });
      const xt = s.addNoise(x, e, t);
      const v = s.getVelocity(x, e, t);
      const x0Back = xt.mul(Math.sqrt(a)).sub(v.mul(Math.sqrt(1 - a)));
      const eBack = v.mul(Math.sqrt(a)).add(xt.mul(Math.sqrt(1 - a)));
      return maxAbsDiff(x0Back, x) < 1e-9 && maxAbsDiff(eBack, e) < 1e-9;
    }), { numRuns: 50 });
  });

  it('rejects timesteps outside the training range, fractional ones, and a wrong count', () => {
    expect(() => s.addNoise(x0, noise, [0, 1, 1000])).toThrow(/ddpm.addNoise: timestep 1000 is not an integer in \[0, 1000\)/);
    expect(() => s.addNoise(x0, noise, 2.5)).toThrow(/timestep 2.5/);
    expect(() => s.addNoise(x0, noise, [1, 2])).toThrow(/2 timesteps for a tensor of shape \[3, 2, 2, 2\]/);
    expect(() => s.addNoise(x0, noise.slice(0, 0, 2), 1)).toThrow(/originalSamples has shape \[3, 2, 2, 2\] but noise has \[2, 2, 2, 2\]/);
  });

  it('Euler addNoise works in its own sample space: x0 + sigma noise at a scheduled timestep', () => {
    const e = new EulerDiscreteScheduler(SD15);
    e.setTimesteps(10);
    const t = e.timesteps[2]!;
    const got = e.addNoise(x0, noise, t);
    expect(maxAbsDiff(got, x0.add(noise.mul(e.sigmas[2]!)))).toBeLessThan(1e-5);
    expect(() => e.addNoise(x0, noise, 123)).toThrow(/euler.addNoise: timestep 123 is not in the inference schedule/);
  });

  it('img2img: after setBeginIndex, addNoise and the first step use that index of the schedule', () => {
    for (const sch of [new EulerDiscreteScheduler(SD15), new DPMSolverMultistepScheduler(SD15)]) {
      sch.setTimesteps(10);
      sch.setBeginIndex(6);
      const t = sch.timesteps[6]!;
      const noisy = sch.addNoise(x0, noise, t);
      const sigma = sch.sigmas[6]!;
      const want = sch instanceof EulerDiscreteScheduler
        ? x0.add(noise.mul(sigma))
        : x0.mul(1 / Math.sqrt(1 + sigma * sigma)).add(noise.mul(sigma / Math.sqrt(1 + sigma * sigma)));
      expect(maxAbsDiff(noisy, want)).toBeLessThan(1e-5);
      sch.step(noise, t, noisy);
      expect(sch.stepIndex).toBe(7);
    }
  });

  it('DPM-Solver addNoise at a scheduled timestep equals the VP forward process at that timestep', () => {
    const d = new DPMSolverMultistepScheduler(SD15);
    d.setTimesteps(10);
    const t = d.timesteps[4]!;
    expect(maxAbsDiff(d.addNoise(x0, noise, t), s.addNoise(x0, noise, t))).toBeLessThan(1e-5);
  });
});

describe('SNR and min-SNR-gamma loss weights', () => {
  const s = new DDPMScheduler(SD15);
  const ts = [0, 100, 300, 500, 999];
  const snr = ts.map((t) => s.alphasCumprod[t]! / (1 - s.alphasCumprod[t]!));

  it('snr = abar / (1 - abar)', () => {
    expect(Array.from(s.snr(ts))).toEqual(snr);
    expect(snr[0]).toBeCloseTo(0.99915 / 0.00085, 0);
  });

  it('epsilon: min(snr, gamma) / snr; v: min(snr, gamma) / (snr + 1); sample: min(snr, gamma)', () => {
    const gamma = 5;
    const eps = s.minSnrLossWeights(ts, gamma).toArray();
    const v = s.minSnrLossWeights(ts, gamma, { predictionType: 'v_prediction' }).toArray();
    const x0 = s.minSnrLossWeights(ts, gamma, { predictionType: 'sample' }).toArray();
    ts.forEach((_, i) => {
      const m = Math.min(snr[i]!, gamma);
      expect(eps[i]).toBeCloseTo(m / snr[i]!, 6);
      expect(v[i]).toBeCloseTo(m / (snr[i]! + 1), 6);
      expect(x0[i]).toBeCloseTo(m, 4);
    });
    // low-noise timesteps (high SNR) are down-weighted; high-noise ones keep weight 1 for epsilon
    expect(eps[0]).toBeCloseTo(5 / snr[0]!, 8);
    expect(eps[4]).toBeCloseTo(1, 6);
  });

  it('the default prediction type is the scheduler\'s, and zero terminal SNR gives epsilon weight 1', () => {
    const zs = new DDPMScheduler({ ...SD15, rescaleBetasZeroSnr: true, predictionType: 'v_prediction' });
    expect(zs.snr([999])[0]).toBeCloseTo(0, 20);
    expect(Array.from(zs.minSnrLossWeights([999], 5).toArray())).toEqual([0]);
    expect(Array.from(zs.minSnrLossWeights([999], 5, { predictionType: 'epsilon' }).toArray())).toEqual([1]);
    expect(() => zs.minSnrLossWeights([1], 0)).toThrow(/gamma must be > 0/);
  });

  it('property: weights lie in (0, 1] for epsilon and v, and are monotone in gamma', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 999 }), fc.double({ min: 0.1, max: 20, noNaN: true }), (t, gamma) => {
      const w = s.minSnrLossWeights([t], gamma).toArray()[0]!;
      const wv = s.minSnrLossWeights([t], gamma, { predictionType: 'v_prediction' }).toArray()[0]!;
      const w2 = s.minSnrLossWeights([t], gamma * 2).toArray()[0]!;
      return w > 0 && w <= 1 + 1e-6 && wv > 0 && wv <= 1 && w2 >= w;
    }), { numRuns: 60 });
  });

  it('every scheduler exposes the same training-time math for the same betas', () => {
    const d = new DDIMScheduler(SD15);
    expect(Array.from(d.snr(ts))).toEqual(snr);
  });
});
