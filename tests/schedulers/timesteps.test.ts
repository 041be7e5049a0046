import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, EulerDiscreteScheduler } from '../../plugins/schedulers/index.ts';

/** Made by fixtures/make_timesteps.py from diffusers' set_timesteps expressions under numpy. */
interface Fixture {
  ddim: { spacing: 'leading' | 'trailing' | 'linspace'; N: number; n: number; offset: number; timesteps: number[] }[];
  euler: { spacing: 'leading' | 'trailing' | 'linspace'; n: number; offset: number; karras: boolean; timesteps: number[]; sigmas: number[] }[];
  dpm: { spacing: 'leading' | 'trailing' | 'linspace'; n: number; offset: number; karras: boolean; timesteps: number[]; sigmas: number[] }[];
  dpm_clipped: { lambda_min_clipped: number; last_timestep: number; timesteps: number[] }[];
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/timesteps.json', import.meta.url), 'utf8')) as Fixture;
const SD15 = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 } as const;

function expectClose(actual: ArrayLike<number>, expected: readonly number[], relTol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThanOrEqual(relTol * Math.max(1, Math.abs(expected[i]!)));
  }
}

describe('inference timesteps match diffusers', () => {
  it('SD1.5 DDIM, 50 steps, leading spacing, steps_offset 1: 981, 961, ..., 1', () => {
    const s = new DDIMScheduler({ ...SD15, setAlphaToOne: false, stepsOffset: 1, clipSample: false });
    s.setTimesteps(50);
    expect(s.timesteps).toEqual(Array.from({ length: 50 }, (_, i) => 981 - 20 * i));
    expect(s.timesteps[49]).toBe(1);
  });

  it.each(fixture.ddim.map((f) => [f.spacing, f.n, f.offset, f] as const))('DDIM and DDPM, %s spacing, %i steps, offset %i', (_s, _n, _o, f) => {
    for (const s of [new DDIMScheduler({ timestepSpacing: f.spacing, stepsOffset: f.offset }), new DDPMScheduler({ timestepSpacing: f.spacing, stepsOffset: f.offset })]) {
      s.setTimesteps(f.n);
      expect(s.timesteps).toEqual(f.timesteps);
    }
  });

  it.each(fixture.euler.map((f) => [f.spacing, f.n, f.karras, f] as const))('Euler (SD1.5 betas), %s spacing, %i steps, karras %s: timesteps and sigmas', (_s, _n, _k, f) => {
    const s = new EulerDiscreteScheduler({ ...SD15, timestepSpacing: f.spacing, stepsOffset: f.offset, useKarrasSigmas: f.karras });
    s.setTimesteps(f.n);
    expectClose(s.timesteps, f.timesteps, 1e-9);
    expectClose(s.sigmas, f.sigmas, 1e-9);
  });

  it.each(fixture.dpm.map((f) => [f.spacing, f.n, f.karras, f] as const))('DPM-Solver++ (SD1.5 betas), %s spacing, %i steps, karras %s: timesteps and sigmas', (_s, _n, _k, f) => {
    const s = new DPMSolverMultistepScheduler({ ...SD15, timestepSpacing: f.spacing, stepsOffset: f.offset, useKarrasSigmas: f.karras });
    s.setTimesteps(f.n);
    expect(s.timesteps).toEqual(f.timesteps);
    expectClose(s.sigmas, f.sigmas, 1e-9);
  });

  it.each(fixture.dpm_clipped.map((f) => [f.lambda_min_clipped, f] as const))('DPM-Solver++ on squaredcos_cap_v2 with lambdaMinClipped %d cuts the noisiest timesteps', (_c, f) => {
    const s = new DPMSolverMultistepScheduler({ betaSchedule: 'squaredcos_cap_v2', lambdaMinClipped: f.lambda_min_clipped });
    s.setTimesteps(10);
    expect(s.timesteps).toEqual(f.timesteps);
    expect(s.timesteps[0]).toBe(f.last_timestep - 1);
  });

  it('before setTimesteps the timesteps are all training steps, descending', () => {
    const s = new DDPMScheduler({ numTrainTimesteps: 5 });
    expect(s.timesteps).toEqual([4, 3, 2, 1, 0]);
    expect(s.previousTimestep(3)).toBe(2);
  });

  it('Euler initNoiseSigma is the largest sigma (linspace/trailing) or sqrt(sigma^2 + 1) (leading)', () => {
    const lin = new EulerDiscreteScheduler(SD15);
    lin.setTimesteps(10);
    expect(lin.initNoiseSigma).toBeCloseTo(Math.sqrt((1 - lin.alphasCumprod[999]!) / lin.alphasCumprod[999]!), 10);
    const lead = new EulerDiscreteScheduler({ ...SD15, timestepSpacing: 'leading', stepsOffset: 1 });
    lead.setTimesteps(10);
    const a = lead.alphasCumprod[901]!;
    expect(lead.timesteps[0]).toBe(901);
    expect(lead.initNoiseSigma).toBeCloseTo(Math.sqrt((1 - a) / a + 1), 10);
  });

  it('rejects step counts outside [1, numTrainTimesteps]', () => {
    const s = new DDIMScheduler();
    expect(() => s.setTimesteps(0)).toThrow(/ddim.setTimesteps: numInferenceSteps must be an integer in \[1, 1000\]/);
    expect(() => s.setTimesteps(1001)).toThrow(/got 1001/);
    expect(() => s.setTimesteps(2.5)).toThrow(/got 2.5/);
  });
});
