/**
 * Test helpers: "oracle" model outputs that know x0, an exact denoiser for Gaussian data
 * (whose probability-flow ODE has a closed-form solution), and a sampling loop that drives
 * any NoiseScheduler the way a pipeline does.
 */
import { type Generator, type Tensor, randn } from '../../core/index.ts';
import type { NoiseScheduler, PredictionType, StepOptions } from '../../plugins/schedulers/index.ts';

/** What a perfect model would output for x_t = sqrt(abar) x0 + sqrt(1 - abar) eps. */
export function oracleOutput(type: PredictionType, x0: Tensor, xt: Tensor, abar: number): Tensor {
  if (type === 'sample') return x0;
  const eps = xt.sub(x0.mul(Math.sqrt(abar))).div(Math.sqrt(1 - abar));
  if (type === 'epsilon') return eps;
  return eps.mul(Math.sqrt(abar)).sub(x0.mul(Math.sqrt(1 - abar)));
}

/**
 * The exact model for data x0 ~ N(0, s^2) per element: E[x0 | x_t] = sqrt(a) s^2 x_t / (a s^2 + 1 - a).
 */
export function gaussianOutput(type: PredictionType, xt: Tensor, abar: number, s: number): Tensor {
  const x0 = xt.mul((Math.sqrt(abar) * s * s) / (abar * s * s + 1 - abar));
  return oracleOutput(type, x0, xt, abar);
}

/** The noise level the model sees at step i: from the scheduler's sigmas where it has them. */
export function abarAt(scheduler: NoiseScheduler, i: number, t: number): number {
  const sigmas = (scheduler as { sigmas?: Float64Array }).sigmas;
  if (sigmas && scheduler.numInferenceSteps !== null) return 1 / (1 + sigmas[i]! ** 2);
  return scheduler.alphasCumprod[t]!;
}

/** A pipeline's denoising loop with `model(modelInput, abar)` standing in for the UNet. */
export function runSampler(
  scheduler: NoiseScheduler,
  steps: number,
  initial: Tensor,
  model: (input: Tensor, abar: number, t: number) => Tensor,
  options: StepOptions = {},
): Tensor {
  scheduler.setTimesteps(steps);
  let x = initial.mul(scheduler.initNoiseSigma);
  scheduler.timesteps.forEach((t, i) => {
    const input = scheduler.scaleModelInput(x, t);
    x = scheduler.step(model(input, abarAt(scheduler, i, t), t), t, x, options).prevSample;
  });
  return x;
}

export function initialNoise(shape: number[], generator: Generator): Tensor {
  return randn(shape, { generator });
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  const x = a.toArray();
  const y = b.toArray();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}
