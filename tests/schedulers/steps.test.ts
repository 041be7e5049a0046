import { describe, expect, it } from 'vitest';
import { Generator, ReferenceBackend, randn, tensor } from '../../core/index.ts';
import { DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler } from '../../plugins/schedulers/index.ts';
import { quantile, thresholdSample } from '../../plugins/schedulers/prediction.ts';
import { maxAbsDiff } from './helpers.ts';

// float64 reference backend: the step formulas are compared to hand-evaluated numbers
const backend = new ReferenceBackend({ precision: 'float64' });
const SD15 = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 } as const;
const NOCLIP = { ...SD15, clipSample: false } as const;
const x = tensor([0.3, -1.2, 2.0], { backend });
const out = tensor([0.5, 0.1, -0.7], { backend });
const z = tensor([1.0, -0.5, 0.25], { backend });
const vals = (t: { toFloat64Array(): Float64Array }) => Array.from(t.toFloat64Array());
function expectValues(got: number[], want: number[], digits = 12): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, i) => expect(g).toBeCloseTo(want[i]!, digits));
}

describe('one step, against the formulas evaluated by hand', () => {
  it('DDPM: posterior mean of Ho et al. eq. 7 plus sqrt(posterior variance) z', () => {
    const s = new DDPMScheduler(NOCLIP);
    s.setTimesteps(10); // leading: 900, 800, ...; prev of 500 is 400
    const a = s.alphasCumprod[500]!;
    const ap = s.alphasCumprod[400]!;
    const { prevSample, predOriginalSample } = s.step(out, 500, x, { varianceNoise: z });
    const x0 = vals(x).map((xi, i) => (xi - Math.sqrt(1 - a) * vals(out)[i]!) / Math.sqrt(a));
    const beta = 1 - a / ap;
    const variance = ((1 - ap) / (1 - a)) * beta;
    expectValues(vals(predOriginalSample!), x0);
    expectValues(vals(prevSample), x0.map((x0i, i) => (Math.sqrt(ap) * beta / (1 - a)) * x0i + (Math.sqrt(1 - beta) * (1 - ap) / (1 - a)) * vals(x)[i]! + Math.sqrt(variance) * vals(z)[i]!));
  });

  it('DDPM steps to the next timestep of the schedule (diffusers\' previous_timestep), also where the gaps are uneven', () => {
    const s = new DDPMScheduler({ ...NOCLIP, timestepSpacing: 'linspace' });
    s.setTimesteps(3);
    expect(s.timesteps).toEqual([999, 500, 0]);
    expect([999, 500, 0].map((t) => s.previousTimestep(t))).toEqual([500, 0, -1]);
    // the step from 999 lands on abar_500 (not on 999 - 333 = 666)
    const a = s.alphasCumprod[999]!;
    const ap = s.alphasCumprod[500]!;
    const beta = 1 - a / ap;
    const x0 = vals(x).map((xi, i) => (xi - Math.sqrt(1 - a) * vals(out)[i]!) / Math.sqrt(a));
    const mean = x0.map((x0i, i) => (Math.sqrt(ap) * beta / (1 - a)) * x0i + (Math.sqrt(1 - beta) * (1 - ap) / (1 - a)) * vals(x)[i]!);
    expectValues(vals(s.step(out, 999, x, { varianceNoise: z }).prevSample), mean.map((m, i) => m + Math.sqrt(((1 - ap) / (1 - a)) * beta) * vals(z)[i]!));
    expect(() => s.step(out, 998, x)).toThrow(/ddpm.step: timestep 998 is not in the inference schedule/);
  });

  it('DDPM fixed_large uses beta_t as the variance; clipSample clamps x0 to [-range, range]', () => {
    const s = new DDPMScheduler({ ...NOCLIP, varianceType: 'fixed_large', clipSample: true, clipSampleRange: 0.5, predictionType: 'sample' });
    expect(s.variance(10)).toBeCloseTo(s.betas[10]!, 15);
    expectValues(vals(s.step(tensor([2, -3, 0.25], { backend }), 10, x, { varianceNoise: z }).predOriginalSample!), [0.5, -0.5, 0.25]);
  });

  it('DDIM eta 0: sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps; v_prediction converts both', () => {
    const s = new DDIMScheduler({ ...NOCLIP, predictionType: 'v_prediction' });
    s.setTimesteps(20); // step 50
    const a = s.alphasCumprod[300]!;
    const ap = s.alphasCumprod[250]!;
    const x0 = vals(x).map((xi, i) => Math.sqrt(a) * xi - Math.sqrt(1 - a) * vals(out)[i]!);
    const eps = vals(x).map((xi, i) => Math.sqrt(a) * vals(out)[i]! + Math.sqrt(1 - a) * xi);
    expectValues(vals(s.step(out, 300, x).prevSample), x0.map((x0i, i) => Math.sqrt(ap) * x0i + Math.sqrt(1 - ap) * eps[i]!));
  });

  it('DDIM eta 1: sigma = sqrt((1-ap)/(1-a) (1 - a/ap)) shrinks the direction term and scales the noise', () => {
    const s = new DDIMScheduler(NOCLIP);
    s.setTimesteps(20);
    const a = s.alphasCumprod[300]!;
    const ap = s.alphasCumprod[250]!;
    const sigma = Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap));
    const x0 = vals(x).map((xi, i) => (xi - Math.sqrt(1 - a) * vals(out)[i]!) / Math.sqrt(a));
    const want = x0.map((x0i, i) => Math.sqrt(ap) * x0i + Math.sqrt(1 - ap - sigma * sigma) * vals(out)[i]! + sigma * vals(z)[i]!);
    expectValues(vals(s.step(out, 300, x, { eta: 1, varianceNoise: z }).prevSample), want);
    expect(() => s.step(out, 300, x, { eta: -1 })).toThrow(/ddim.step: eta must be >= 0/);
  });

  it('DDIM useClippedModelOutput recomputes eps from the clipped x0', () => {
    const s = new DDIMScheduler({ ...SD15, predictionType: 'sample' }); // clipSample defaults to true
    s.setTimesteps(20);
    const a = s.alphasCumprod[300]!;
    const ap = s.alphasCumprod[250]!;
    const raw = tensor([2, -0.5, -3], { backend });
    const clipped = [1, -0.5, -1];
    const epsOf = (x0: number[]) => vals(x).map((xi, i) => (xi - Math.sqrt(a) * x0[i]!) / Math.sqrt(1 - a));
    const want = (eps: number[]) => clipped.map((c, i) => Math.sqrt(ap) * c + Math.sqrt(1 - ap) * eps[i]!);
    expectValues(vals(s.step(raw, 300, x).prevSample), want(epsOf([2, -0.5, -3])));
    expectValues(vals(s.step(raw, 300, x, { useClippedModelOutput: true }).prevSample), want(epsOf(clipped)));
  });

  it('Euler: input scaled by 1/sqrt(sigma^2 + 1); x + (x - x0)/sigma * (sigma_next - sigma)', () => {
    const s = new EulerDiscreteScheduler(SD15);
    s.setTimesteps(5);
    const [s0, s1] = [s.sigmas[0]!, s.sigmas[1]!];
    expectValues(vals(s.scaleModelInput(x, s.timesteps[0]!)), vals(x).map((v) => v / Math.sqrt(s0 * s0 + 1)));
    const x0 = vals(x).map((xi, i) => xi - s0 * vals(out)[i]!);
    expectValues(vals(s.step(out, s.timesteps[0]!, x).prevSample), vals(x).map((xi, i) => xi + ((xi - x0[i]!) / s0) * (s1 - s0)));
    expect(s.stepIndex).toBe(1);
  });

  it('Euler with churn adds sqrt(sigma_hat^2 - sigma^2) s_noise z before the step', () => {
    const s = new EulerDiscreteScheduler(SD15);
    s.setTimesteps(4);
    const sigma = s.sigmas[0]!;
    const gamma = Math.min(0.3 / 4, Math.SQRT2 - 1);
    const hat = sigma * (1 + gamma);
    const xc = vals(x).map((xi, i) => xi + Math.sqrt(hat * hat - sigma * sigma) * vals(z)[i]!);
    const x0 = xc.map((xi, i) => xi - hat * vals(out)[i]!);
    const want = xc.map((xi, i) => xi + ((xi - x0[i]!) / hat) * (s.sigmas[1]! - hat));
    expectValues(vals(s.step(out, s.timesteps[0]!, x, { sChurn: 0.3, varianceNoise: z }).prevSample), want, 9);
  });

  it('DPM-Solver++: first step is first order, second uses D1 = (m0 - m1) / r0 (midpoint)', () => {
    const s = new DPMSolverMultistepScheduler(SD15);
    s.setTimesteps(5);
    const as = (sig: number) => ({ a: 1 / Math.sqrt(sig * sig + 1), s: sig / Math.sqrt(sig * sig + 1) });
    const lam = (sig: number) => Math.log(as(sig).a) - Math.log(as(sig).s);
    const [g0, g1, g2] = [s.sigmas[0]!, s.sigmas[1]!, s.sigmas[2]!];
    const m0 = vals(x).map((xi, i) => (xi - as(g0).s * vals(out)[i]!) / as(g0).a);
    const h1 = lam(g1) - lam(g0);
    const x1 = vals(x).map((xi, i) => (as(g1).s / as(g0).s) * xi - as(g1).a * (Math.exp(-h1) - 1) * m0[i]!);
    const first = s.step(out, s.timesteps[0]!, x).prevSample;
    expectValues(vals(first), x1);
    const out2 = tensor([-0.2, 0.4, 0.9], { backend });
    const m1 = x1.map((xi, i) => (xi - as(g1).s * vals(out2)[i]!) / as(g1).a);
    const h2 = lam(g2) - lam(g1);
    const r0 = h1 / h2;
    const d1 = m1.map((v, i) => (v - m0[i]!) / r0);
    const e = Math.exp(-h2) - 1;
    const x2 = x1.map((xi, i) => (as(g2).s / as(g1).s) * xi - as(g2).a * e * m1[i]! - 0.5 * as(g2).a * e * d1[i]!);
    expectValues(vals(s.step(out2, s.timesteps[1]!, first).prevSample), x2, 10);
  });

  it('SDE-DPM-Solver++(2M): x_t = (sigma_t/sigma_s) e^-h x + alpha_t (1 - e^-2h)(D0 + D1/2) + sigma_t sqrt(1 - e^-2h) z', () => {
    const s = new DPMSolverMultistepScheduler({ ...SD15, algorithmType: 'sde-dpmsolver++' });
    s.setTimesteps(5);
    const as = (sig: number) => ({ a: 1 / Math.sqrt(sig * sig + 1), s: sig / Math.sqrt(sig * sig + 1) });
    const lam = (sig: number) => Math.log(as(sig).a) - Math.log(as(sig).s);
    const [g0, g1, g2] = [s.sigmas[0]!, s.sigmas[1]!, s.sigmas[2]!];
    const m0 = vals(x).map((xi, i) => (xi - as(g0).s * vals(out)[i]!) / as(g0).a);
    const h1 = lam(g1) - lam(g0);
    const x1 = vals(x).map((xi, i) => (as(g1).s / as(g0).s) * Math.exp(-h1) * xi + as(g1).a * (1 - Math.exp(-2 * h1)) * m0[i]! + as(g1).s * Math.sqrt(1 - Math.exp(-2 * h1)) * vals(z)[i]!);
    const first = s.step(out, s.timesteps[0]!, x, { varianceNoise: z }).prevSample;
    expectValues(vals(first), x1, 10);
    const m1 = x1.map((xi, i) => (xi - as(g1).s * vals(out)[i]!) / as(g1).a);
    const h2 = lam(g2) - lam(g1);
    const d1 = m1.map((v, i) => (v - m0[i]!) / (h1 / h2));
    const e2 = 1 - Math.exp(-2 * h2);
    const x2 = x1.map((xi, i) => (as(g2).s / as(g1).s) * Math.exp(-h2) * xi + as(g2).a * e2 * (m1[i]! + 0.5 * d1[i]!) + as(g2).s * Math.sqrt(e2) * vals(z)[i]!);
    expectValues(vals(s.step(out, s.timesteps[1]!, first, { varianceNoise: z }).prevSample), x2, 10);
  });

  it('a finished schedule, a timestep not in it, or DDIM without setTimesteps are errors', () => {
    const e = new EulerDiscreteScheduler(SD15);
    e.setTimesteps(1);
    e.step(out, e.timesteps[0]!, x);
    expect(() => e.step(out, e.timesteps[0]!, x)).toThrow(/euler.step: the schedule is finished \(1 steps\)/);
    const d = new DPMSolverMultistepScheduler(SD15);
    d.setTimesteps(3);
    expect(() => d.step(out, 5, x)).toThrow(/dpmpp-2m.step: timestep 5 is not in the inference schedule \[999, 666, 333\]/);
    expect(() => new DDIMScheduler().step(out, 10, x)).toThrow(/ddim.step: call setTimesteps/);
    expect(() => new DDPMScheduler().step(out, 10, x.reshape([3, 1]))).toThrow(/modelOutput has shape \[3\] but sample has \[3, 1\]/);
  });

  it('setTimesteps resets the step index and DPM-Solver history so a scheduler can be reused', () => {
    const d = new DPMSolverMultistepScheduler(SD15);
    const runOnce = () => {
      d.setTimesteps(4);
      let y = x;
      for (const t of d.timesteps) y = d.step(y.mul(0.3), t, y).prevSample;
      return vals(y);
    };
    expect(runOnce()).toEqual(runOnce());
  });
});

describe('dynamic thresholding (Imagen)', () => {
  it('quantile interpolates linearly between order statistics like torch.quantile', () => {
    expect(quantile(Float64Array.from([1, 2, 3, 4]), 0.5)).toBe(2.5);
    expect(quantile(Float64Array.from([0, 10]), 0.995)).toBeCloseTo(9.95, 12);
  });

  it('per sample: s = quantile(|x0|, ratio) clamped to [1, max]; x0 -> clamp(x0, -s, s) / s', () => {
    const x0 = tensor([[0.5, -4, 2, 1], [0.1, 0.2, -0.3, 0.4]], { backend });
    const got = vals(thresholdSample(x0, 0.5, 3));
    // row 0: |x| sorted 0.5, 1, 2, 4 -> median 1.5; row 1: median 0.25 -> s = 1 (plain clipping)
    expectValues(got, [0.5 / 1.5, -1, 1, 1 / 1.5, 0.1, 0.2, -0.3, 0.4]);
    const capped = vals(thresholdSample(x0, 0.99, 2)); // quantile ~3.94 capped at sampleMaxValue 2
    expectValues(capped.slice(0, 4), [0.25, -1, 1, 0.5]);
  });

  it('a DDIM step with thresholding applies it to the predicted x0', () => {
    const s = new DDIMScheduler({ ...NOCLIP, predictionType: 'sample', thresholding: true, dynamicThresholdingRatio: 0.5, sampleMaxValue: 3 });
    s.setTimesteps(10);
    const x0 = tensor([[0.5, -4, 2, 1]], { backend });
    const got = s.step(x0, 900, randn([1, 4], { generator: new Generator(1), backend })).predOriginalSample!;
    expect(maxAbsDiff(got, tensor([[0.5 / 1.5, -1, 1, 1 / 1.5]]))).toBeLessThan(1e-7);
  });
});
