import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Generator, rand, randn } from '../../core/index.ts';
import {
  DDIMScheduler,
  DDPMScheduler,
  DPMSolverMultistepScheduler,
  EulerDiscreteScheduler,
  type NoiseScheduler,
  type PredictionType,
} from '../../plugins/schedulers/index.ts';
import { abarAt, gaussianOutput, maxAbsDiff, oracleOutput, runSampler } from './helpers.ts';

const SD15 = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 } as const;
const SHAPE = [2, 3, 4, 4];
const TYPES: PredictionType[] = ['epsilon', 'v_prediction', 'sample'];

const makers: [string, (p: PredictionType) => NoiseScheduler][] = [
  ['DDPM (ancestral)', (p) => new DDPMScheduler({ ...SD15, predictionType: p, stepsOffset: 1 })],
  ['DDIM eta 0', (p) => new DDIMScheduler({ ...SD15, predictionType: p, stepsOffset: 1 })],
  ['Euler discrete', (p) => new EulerDiscreteScheduler({ ...SD15, predictionType: p })],
  ['Euler discrete, karras sigmas, leading', (p) => new EulerDiscreteScheduler({ ...SD15, predictionType: p, useKarrasSigmas: true, timestepSpacing: 'leading', stepsOffset: 1 })],
  ['DPM-Solver++(2M)', (p) => new DPMSolverMultistepScheduler({ ...SD15, predictionType: p })],
  ['DPM-Solver++(2M) heun, karras', (p) => new DPMSolverMultistepScheduler({ ...SD15, predictionType: p, solverType: 'heun', useKarrasSigmas: true })],
  ['SDE-DPM-Solver++(2M)', (p) => new DPMSolverMultistepScheduler({ ...SD15, predictionType: p, algorithmType: 'sde-dpmsolver++' })],
];

describe('with an oracle model (one that knows x0) every sampler returns x0', () => {
  const x0 = rand(SHAPE, { low: -0.9, high: 0.9, seed: 7 });
  for (const [label, make] of makers) {
    for (const type of TYPES) {
      it(`${label}, ${type}, 12 steps`, () => {
        const scheduler = make(type);
        const gen = new Generator(3);
        const out = runSampler(scheduler, 12, randn(SHAPE, { generator: gen }), (input, abar) => oracleOutput(type, x0, input, abar), { generator: gen });
        expect(maxAbsDiff(out, x0)).toBeLessThan(2e-4);
      });
    }
  }

  it('property: for any schedule, spacing, step count, prediction type and sampler, every step infers x0 and the run ends at x0', () => {
    const small = rand([1, 2, 2, 2], { low: -0.9, high: 0.9, seed: 8 });
    fc.assert(fc.property(
      fc.constantFrom('ddpm', 'ddim', 'euler', 'dpm', 'dpm-sde', 'dpm-heun'),
      fc.constantFrom('linear' as const, 'scaled_linear' as const, 'squaredcos_cap_v2' as const),
      fc.constantFrom('leading' as const, 'trailing' as const, 'linspace' as const),
      fc.constantFrom<PredictionType>('epsilon', 'v_prediction', 'sample'),
      fc.integer({ min: 1, max: 25 }),
      fc.integer({ min: 0, max: 1 }),
      fc.integer({ min: 0, max: 1000 }),
      (kind, betaSchedule, timestepSpacing, predictionType, steps, stepsOffset, seed) => {
        const base = { betaSchedule, timestepSpacing, predictionType, stepsOffset, numTrainTimesteps: 200 };
        const s: NoiseScheduler =
          kind === 'ddpm' ? new DDPMScheduler(base)
          : kind === 'ddim' ? new DDIMScheduler(base)
          : kind === 'euler' ? new EulerDiscreteScheduler(base)
          : new DPMSolverMultistepScheduler({ ...base, algorithmType: kind === 'dpm-sde' ? 'sde-dpmsolver++' : 'dpmsolver++', solverType: kind === 'dpm-heun' ? 'heun' : 'midpoint' });
        const gen = new Generator(seed);
        s.setTimesteps(steps);
        let x = randn([1, 2, 2, 2], { generator: gen }).mul(s.initNoiseSigma);
        let worstX0 = 0;
        s.timesteps.forEach((t, i) => {
          const input = s.scaleModelInput(x, t);
          const r = s.step(oracleOutput(predictionType, small, input, abarAt(s, i, t)), t, x, { generator: gen, eta: seed % 2 });
          worstX0 = Math.max(worstX0, maxAbsDiff(r.predOriginalSample!, small));
          x = r.prevSample;
        });
        // DDPM steps to the schedule's next timestep (-1 after the last), so it always ends clean;
        // DDIM steps t - numTrain / steps and ends clean only when that is before 0 (with
        // trailing spacing it can be t = 0 itself, at abar_0 < 1, as in diffusers).
        const last = s.timesteps[s.timesteps.length - 1]!;
        const endsClean = !(s instanceof DDIMScheduler) || last - Math.floor(200 / steps) < 0;
        // float32 rounding of x_T (about sigma_max in size) is amplified by up to sigma_max when x0 is
        // inferred: squaredcos_cap_v2 at 200 steps reaches sigma ~ 4000 (why DPM-Solver has lambdaMinClipped).
        const abarMin = s.alphasCumprod[199]!;
        const tol = 1e-3 + 3e-6 * Math.sqrt((1 - abarMin) / abarMin);
        return worstX0 < tol && (!endsClean || maxAbsDiff(x, small) < tol);
      },
    ), { numRuns: 200 });
  });

  it('DDIM with eta = 0.7 (stochastic) still lands on x0 (set_alpha_to_one)', () => {
    const s = new DDIMScheduler({ ...SD15, predictionType: 'v_prediction' });
    const gen = new Generator(11);
    const out = runSampler(s, 20, randn(SHAPE, { generator: gen }), (input, abar) => oracleOutput('v_prediction', x0, input, abar), { eta: 0.7, generator: gen });
    expect(maxAbsDiff(out, x0)).toBeLessThan(2e-4);
  });

  it('DDIM with set_alpha_to_one false (SD1.5) stops at the t = 0 noise level: sqrt(abar_0) x0 + sqrt(1 - abar_0) eps', () => {
    const s = new DDIMScheduler({ ...SD15, setAlphaToOne: false, stepsOffset: 1 });
    const noise = randn(SHAPE, { seed: 5 });
    // a deterministic DDIM path keeps the eps of its starting point, so the end point is known exactly
    const out = runSampler(s, 50, noise, (input, abar) => oracleOutput('epsilon', x0, input, abar));
    const aT = s.alphasCumprod[981]!;
    const eps = noise.sub(x0.mul(Math.sqrt(aT))).div(Math.sqrt(1 - aT));
    const a0 = s.alphasCumprod[0]!;
    expect(maxAbsDiff(out, x0.mul(Math.sqrt(a0)).add(eps.mul(Math.sqrt(1 - a0))))).toBeLessThan(1e-4);
    expect(maxAbsDiff(out, x0)).toBeGreaterThan(1e-2);
  });

  it('the full 1000-step DDPM ancestral chain (no setTimesteps) returns x0', () => {
    const s = new DDPMScheduler(SD15);
    const gen = new Generator(1);
    let x = randn([1, 2, 2, 2], { generator: gen });
    const target = rand([1, 2, 2, 2], { low: -1, high: 1, seed: 2 });
    for (const t of s.timesteps) x = s.step(oracleOutput('epsilon', target, x, s.alphasCumprod[t]!), t, x, { generator: gen }).prevSample;
    expect(s.timesteps.length).toBe(1000);
    expect(maxAbsDiff(x, target)).toBeLessThan(2e-4);
  });

  it('zero-terminal-SNR schedules with trailing spacing and v_prediction start from pure noise and return x0', () => {
    for (const s of [
      new DDIMScheduler({ ...SD15, predictionType: 'v_prediction', rescaleBetasZeroSnr: true, timestepSpacing: 'trailing' }),
      new EulerDiscreteScheduler({ ...SD15, predictionType: 'v_prediction', rescaleBetasZeroSnr: true, timestepSpacing: 'trailing' }),
      new DPMSolverMultistepScheduler({ ...SD15, predictionType: 'v_prediction', rescaleBetasZeroSnr: true, timestepSpacing: 'trailing' }),
    ]) {
      const out = runSampler(s, 10, randn(SHAPE, { seed: 9 }), (input, abar) => oracleOutput('v_prediction', x0, input, abar));
      expect(s.timesteps[0]).toBe(999);
      expect(maxAbsDiff(out, x0)).toBeLessThan(5e-4);
    }
  });
});

describe('determinism and seeds', () => {
  // A model that does not know x0, so the stochastic part of a step shows in the result.
  const toyModel = (input: ReturnType<typeof randn>) => input.mul(0.8).tanh();
  const start = randn(SHAPE, { seed: 21 });
  const run = (eta: number, seed: number) => runSampler(new DDIMScheduler({ ...SD15, stepsOffset: 1, clipSample: false }), 10, start, toyModel, { eta, generator: new Generator(seed) });

  it('DDIM with eta 0 is deterministic: the generator is never used', () => {
    const a = run(0, 1).toArray();
    expect(Array.from(run(0, 2).toArray())).toEqual(Array.from(a));
    expect(Array.from(run(0, 1).toArray())).toEqual(Array.from(a));
  });

  it('DDIM with eta > 0 differs by seed and is reproducible for a seed', () => {
    const a = run(1, 1);
    expect(Array.from(run(1, 1).toArray())).toEqual(Array.from(a.toArray()));
    expect(maxAbsDiff(run(1, 2), a)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(run(0, 1), a)).toBeGreaterThan(1e-3);
  });

  it('DDPM ancestral sampling and SDE-DPM-Solver++ are reproducible for a seed and differ across seeds', () => {
    for (const make of [() => new DDPMScheduler(SD15), () => new DPMSolverMultistepScheduler({ ...SD15, algorithmType: 'sde-dpmsolver++' })]) {
      const go = (seed: number) => runSampler(make(), 8, start, toyModel, { generator: new Generator(seed) });
      expect(Array.from(go(4).toArray())).toEqual(Array.from(go(4).toArray()));
      expect(maxAbsDiff(go(4), go(5))).toBeGreaterThan(1e-3);
    }
  });

  it('a step given varianceNoise uses it instead of drawing: DDPM prevSample = mean + sqrt(var) z', () => {
    const s = new DDPMScheduler({ ...SD15, clipSample: false });
    s.setTimesteps(10);
    const t = s.timesteps[3]!;
    const out = toyModel(start);
    const z = randn(SHAPE, { seed: 33 });
    const noiseless = s.step(out, t, start, { varianceNoise: z.mul(0) }).prevSample;
    const noisy = s.step(out, t, start, { varianceNoise: z }).prevSample;
    expect(maxAbsDiff(noisy.sub(noiseless), z.mul(Math.sqrt(s.variance(t))))).toBeLessThan(1e-6);
  });
});

describe('convergence on Gaussian data (exact denoiser, closed-form ODE solution)', () => {
  // Data x0 ~ N(0, s^2): in y = x_t / sqrt(abar) = x0 + sigma eps the probability-flow ODE
  // dy/dsigma = (y - E[x0|y]) / sigma is solved by y(sigma) = y_T sqrt((s^2 + sigma^2) / (s^2 + sigma_T^2)).
  // The samplers end at the smallest training sigma (final sigma 'sigma_min', DDIM set_alpha_to_one
  // false): a jump to sigma 0 would be the posterior mean, not the ODE solution.
  const s = 0.5;
  const noise = randn([1, 1, 8, 8], { seed: 41 });
  function error(scheduler: NoiseScheduler, steps: number, type: PredictionType = 'epsilon'): number {
    const out = runSampler(scheduler, steps, noise, (input, abar) => gaussianOutput(type, input, abar, s));
    const abar = scheduler.alphasCumprod;
    const sigmaOf = (t: number) => Math.sqrt((1 - abar[t]!) / abar[t]!);
    const sigmaT = sigmaOf(scheduler.timesteps[0]!);
    const sigmaEnd = sigmaOf(0);
    const euler = scheduler instanceof EulerDiscreteScheduler;
    // the sample lives in y (Euler) or in VP x_t = y / sqrt(1 + sigma^2) (DDIM, DPM-Solver)
    const yT = euler ? noise.mul(scheduler.initNoiseSigma) : noise.mul(Math.sqrt(1 + sigmaT * sigmaT));
    const yEnd = yT.mul(Math.sqrt((s * s + sigmaEnd * sigmaEnd) / (s * s + sigmaT * sigmaT)));
    return maxAbsDiff(out, euler ? yEnd : yEnd.div(Math.sqrt(1 + sigmaEnd * sigmaEnd)));
  }

  it('Euler and DDIM are first order, DPM-Solver++(2M) second order: errors fall ~2x vs ~4x when steps double', () => {
    // Karras sigmas give a grid smooth in log-SNR, where the asymptotic orders show from 10 steps on
    // (the default linspace-in-t grid ends with one long log-SNR step that needs ~100 steps to settle).
    const steps = [10, 20, 40];
    const karras = { ...SD15, finalSigmasType: 'sigma_min', useKarrasSigmas: true } as const;
    const euler = steps.map((n) => error(new EulerDiscreteScheduler(karras), n));
    const ddim = steps.map((n) => error(new DDIMScheduler({ ...SD15, clipSample: false, setAlphaToOne: false }), n));
    const dpm = steps.map((n) => error(new DPMSolverMultistepScheduler(karras), n));
    const heun = steps.map((n) => error(new DPMSolverMultistepScheduler({ ...karras, solverType: 'heun' }), n));
    console.log('Gaussian-data ODE error (max abs) at 10/20/40 steps:', { euler, ddim, dpm, heun });
    for (const e of [euler, ddim]) {
      expect(e[0]! / e[1]!).toBeGreaterThan(1.6);
      expect(e[1]! / e[2]!).toBeGreaterThan(1.6);
      expect(e[1]! / e[2]!).toBeLessThan(2.5);
    }
    expect(dpm[0]! / dpm[1]!).toBeGreaterThan(3.3);
    expect(dpm[1]! / dpm[2]!).toBeGreaterThan(3.3);
    expect(dpm[0]!).toBeLessThan(euler[0]! / 3);
    expect(heun[0]! / heun[1]!).toBeGreaterThan(3.3);
    expect(heun[1]! / heun[2]!).toBeGreaterThan(3.3);
  });

  it('epsilon and v_prediction models of the same denoiser give the same DPM-Solver++ result', () => {
    const cfg = { ...SD15, finalSigmasType: 'sigma_min' } as const;
    const e = error(new DPMSolverMultistepScheduler(cfg), 10);
    const v = error(new DPMSolverMultistepScheduler({ ...cfg, predictionType: 'v_prediction' }), 10, 'v_prediction');
    expect(Math.abs(e - v)).toBeLessThan(1e-5);
  });
});
