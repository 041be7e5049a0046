/**
 * Euler's method on the probability-flow ODE in sigma space (Karras et al. 2022, Algorithm 2)
 * as diffusers' EulerDiscreteScheduler. The sample lives at x = x0 + sigma eps, so the model
 * must see x / sqrt(sigma^2 + 1) (= the VP x_t): call scaleModelInput before the model, and
 * start from noise times initNoiseSigma.
 */
import { ArgumentError, type Tensor } from '../../core/index.ts';
import { DiscreteScheduler, checkSameShape, indexForTimestep, perSample, spacedTimesteps, stepNoise, timestepValues } from './base.ts';
import { BASE_DEFAULTS, fromDiffusersKeys, resolveConfig } from './config.ts';
import { interpIndex } from './betas.ts';
import { karrasSigmas, sigmaToT, sigmasOf } from './sigmas.ts';
import type { BaseSchedulerConfig, NoiseSchedulerPlugin, StepOptions, StepResult, Timesteps } from './types.ts';

export interface EulerDiscreteConfig extends BaseSchedulerConfig {
  /** How sigmas between training timesteps are found: only 'linear' (in sigma) is implemented. */
  interpolationType: 'linear';
  useKarrasSigmas: boolean;
  sigmaMin: number | null;
  sigmaMax: number | null;
  /** The sigma after the last step: 0 (a clean sample) or the smallest training sigma. */
  finalSigmasType: 'zero' | 'sigma_min';
}

export const EULER_DEFAULTS: Readonly<EulerDiscreteConfig> = Object.freeze({
  ...BASE_DEFAULTS,
  timestepSpacing: 'linspace',
  interpolationType: 'linear',
  useKarrasSigmas: false,
  sigmaMin: null,
  sigmaMax: null,
  finalSigmasType: 'zero',
});

const ENUMS = { interpolationType: ['linear'], finalSigmasType: ['zero', 'sigma_min'] };

export class EulerDiscreteScheduler extends DiscreteScheduler<EulerDiscreteConfig> {
  readonly name = 'euler';
  /** The inference sigmas, descending, with the final sigma appended (length steps + 1). */
  sigmas: Float64Array;
  private stepIdx: number | null = null;
  private beginIdx: number | null = null;

  constructor(options?: Partial<EulerDiscreteConfig>) {
    super(resolveConfig('euler', EULER_DEFAULTS, options, ENUMS));
    // With zero terminal SNR the last sigma would be infinite: keep it finite (fp16's smallest subnormal).
    if (this.config.rescaleBetasZeroSnr) this.alphasCumprod[this.alphasCumprod.length - 1] = 2 ** -24;
    const trainSigmas = Array.from(sigmasOf(this.alphasCumprod)).reverse();
    this.sigmas = Float64Array.from([...trainSigmas, 0]);
  }

  static fromDiffusersConfig(json: Readonly<Record<string, unknown>>): EulerDiscreteScheduler {
    return new EulerDiscreteScheduler(fromDiffusersKeys('euler', EULER_DEFAULTS, json, {
      use_exponential_sigmas: false,
      use_beta_sigmas: false,
      timestep_type: 'discrete',
    }));
  }

  get stepIndex(): number | null {
    return this.stepIdx;
  }

  /** For img2img: start at this index of the schedule instead of looking the timestep up. */
  setBeginIndex(index: number): void {
    this.beginIdx = index;
  }

  override get initNoiseSigma(): number {
    let max = 0;
    for (const s of this.sigmas) max = Math.max(max, s);
    return this.config.timestepSpacing === 'linspace' || this.config.timestepSpacing === 'trailing' ? max : Math.sqrt(max * max + 1);
  }

  setTimesteps(numInferenceSteps: number): void {
    this.checkInferenceSteps(numInferenceSteps);
    this.numInferenceSteps = numInferenceSteps;
    const c = this.config;
    let timesteps = spacedTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset, false);
    const trainSigmas = sigmasOf(this.alphasCumprod);
    let sigmas = timesteps.map((t) => interpIndex(t, trainSigmas));
    if (c.useKarrasSigmas) {
      const logSigmas = trainSigmas.map(Math.log);
      sigmas = Array.from(karrasSigmas(c.sigmaMin ?? sigmas[sigmas.length - 1]!, c.sigmaMax ?? sigmas[0]!, numInferenceSteps));
      timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
    }
    const last = c.finalSigmasType === 'zero' ? 0 : trainSigmas[0]!;
    this.sigmas = Float64Array.from([...sigmas, last]);
    this.timesteps = timesteps;
    this.stepIdx = null;
    this.beginIdx = null;
  }

  private initStepIndex(timestep: number, op: string): number {
    if (this.stepIdx === null) {
      this.stepIdx = this.beginIdx ?? indexForTimestep(op, this.timesteps, timestep);
    }
    return this.stepIdx;
  }

  override scaleModelInput(sample: Tensor, timestep: number): Tensor {
    const sigma = this.sigmas[this.initStepIndex(timestep, 'euler.scaleModelInput')]!;
    return sample.div(Math.sqrt(sigma * sigma + 1));
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options: StepOptions = {}): StepResult {
    const op = 'euler.step';
    checkSameShape(op, modelOutput, 'modelOutput', sample, 'sample');
    const index = this.initStepIndex(timestep, op);
    if (index >= this.sigmas.length - 1) throw new ArgumentError(`${op}: the schedule is finished (${this.sigmas.length - 1} steps); call setTimesteps again`);
    const sigma = this.sigmas[index]!;
    const { sChurn = 0, sTmin = 0, sTmax = Infinity, sNoise = 1 } = options;
    const gamma = sTmin <= sigma && sigma <= sTmax ? Math.min(sChurn / (this.sigmas.length - 1), Math.SQRT2 - 1) : 0;
    const sigmaHat = sigma * (gamma + 1);
    let x = sample;
    if (gamma > 0) {
      const noise = stepNoise(op, options, sample);
      x = x.add(noise.mul(sNoise * Math.sqrt(sigmaHat * sigmaHat - sigma * sigma)));
    }
    let predOriginalSample: Tensor;
    switch (this.config.predictionType) {
      case 'epsilon':
        predOriginalSample = x.sub(modelOutput.mul(sigmaHat));
        break;
      case 'v_prediction':
        predOriginalSample = modelOutput.mul(-sigma / Math.sqrt(sigma * sigma + 1)).add(x.div(sigma * sigma + 1));
        break;
      case 'sample':
        predOriginalSample = modelOutput;
        break;
    }
    // dx/dsigma = (x - x0) / sigma, one Euler step to the next sigma
    const derivative = x.sub(predOriginalSample).div(sigmaHat);
    const dt = this.sigmas[index + 1]! - sigmaHat;
    const prevSample = x.add(derivative.mul(dt));
    this.stepIdx = index + 1;
    return { prevSample, predOriginalSample };
  }

  /** img2img-style noising in this scheduler's sample space: x0 + sigma noise (timesteps from the schedule). */
  override addNoise(originalSamples: Tensor, noise: Tensor, timesteps: Timesteps): Tensor {
    const op = 'euler.addNoise';
    checkSameShape(op, originalSamples, 'originalSamples', noise, 'noise');
    const ts = timestepValues(timesteps, op);
    // diffusers: look each timestep up unless a begin index was set (then the current index).
    const indices = ts.map((t) => (this.beginIdx === null ? indexForTimestep(op, this.timesteps, t) : this.stepIdx ?? this.beginIdx!));
    return originalSamples.add(noise.mul(perSample(indices.map((i) => this.sigmas[i]!), originalSamples, op)));
  }
}

export const eulerPlugin: NoiseSchedulerPlugin<EulerDiscreteConfig> = {
  name: 'euler',
  diffusersClassNames: ['EulerDiscreteScheduler'],
  defaults: EULER_DEFAULTS,
  create: (config) => new EulerDiscreteScheduler(config),
  fromDiffusersConfig: (json) => EulerDiscreteScheduler.fromDiffusersConfig(json),
};
