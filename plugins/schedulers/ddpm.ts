/**
 * DDPM (Ho et al. 2020) as diffusers' DDPMScheduler: the ancestral sampler, which steps to
 * the posterior q(x_{t'} | x_t, x0) mean and adds noise of its variance. It is also the
 * scheduler a training loop uses for addNoise / getVelocity.
 */
import { ArgumentError, type Tensor } from '../../core/index.ts';
import { DiscreteScheduler, checkSameShape, stepNoise, indexForTimestep, spacedTimesteps } from './base.ts';
import { BASE_DEFAULTS, fromDiffusersKeys, resolveConfig } from './config.ts';
import { clipPredictedOriginal, predictOriginalSample } from './prediction.ts';
import type { BaseSchedulerConfig, NoiseSchedulerPlugin, StepOptions, StepResult } from './types.ts';

export type DDPMVarianceType = 'fixed_small' | 'fixed_small_log' | 'fixed_large' | 'fixed_large_log';

export interface DDPMConfig extends BaseSchedulerConfig {
  varianceType: DDPMVarianceType;
  clipSample: boolean;
  clipSampleRange: number;
  thresholding: boolean;
  dynamicThresholdingRatio: number;
  sampleMaxValue: number;
}

export const DDPM_DEFAULTS: Readonly<DDPMConfig> = Object.freeze({
  ...BASE_DEFAULTS,
  varianceType: 'fixed_small',
  clipSample: true,
  clipSampleRange: 1.0,
  thresholding: false,
  dynamicThresholdingRatio: 0.995,
  sampleMaxValue: 1.0,
});

const VARIANCE_TYPES = ['fixed_small', 'fixed_small_log', 'fixed_large', 'fixed_large_log'];

export class DDPMScheduler extends DiscreteScheduler<DDPMConfig> {
  readonly name = 'ddpm';

  constructor(options?: Partial<DDPMConfig>) {
    super(resolveConfig('ddpm', DDPM_DEFAULTS, options, { varianceType: VARIANCE_TYPES }));
  }

  static fromDiffusersConfig(json: Readonly<Record<string, unknown>>): DDPMScheduler {
    // learned variances need a model with twice the output channels: not implemented.
    return new DDPMScheduler(fromDiffusersKeys('ddpm', DDPM_DEFAULTS, json, { variance_type: 'fixed_small' }));
  }

  setTimesteps(numInferenceSteps: number): void {
    this.checkInferenceSteps(numInferenceSteps);
    this.numInferenceSteps = numInferenceSteps;
    const c = this.config;
    this.timesteps = spacedTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset, true);
  }

  /**
   * The timestep the step from t lands on (diffusers' previous_timestep): the next entry of
   * the inference schedule (-1 after the last), or t - 1 before setTimesteps. With 'leading'
   * spacing that is t - numTrain / steps; with 'linspace' / 'trailing' the gaps are uneven.
   */
  previousTimestep(t: number): number {
    if (this.numInferenceSteps === null) return t - 1;
    // the first match, as diffusers (indexForTimestep's second-match rule is for Euler / DPM)
    const i = this.timesteps.indexOf(t);
    if (i < 0) indexForTimestep('ddpm.step', this.timesteps, t); // throws, naming the schedule
    return i + 1 < this.timesteps.length ? this.timesteps[i + 1]! : -1;
  }

  /** Variance of the step from t (posterior variance, or beta for the fixed_large types). */
  variance(t: number): number {
    const prevT = this.previousTimestep(t);
    const alphaProd = this.alphaBar(t);
    const alphaProdPrev = this.alphaBar(prevT);
    const currentBeta = 1 - alphaProd / alphaProdPrev;
    // posterior variance of Ho et al. eq. 7, clamped so its log stays finite
    const posterior = Math.max(((1 - alphaProdPrev) / (1 - alphaProd)) * currentBeta, 1e-20);
    switch (this.config.varianceType) {
      case 'fixed_small': return posterior;
      // diffusers keeps the log form and exponentiates in step: the same number.
      case 'fixed_small_log': return posterior;
      case 'fixed_large': return currentBeta;
      // (diffusers' own step takes the square root of the log here, which is NaN; we use beta.)
      case 'fixed_large_log': return currentBeta;
      default: throw new ArgumentError(`ddpm: varianceType '${String(this.config.varianceType)}' is not supported`);
    }
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options: StepOptions = {}): StepResult {
    const op = 'ddpm.step';
    checkSameShape(op, modelOutput, 'modelOutput', sample, 'sample');
    const t = timestep;
    this.checkTrainTimestep(t, 'step');
    const prevT = this.previousTimestep(t);
    const alphaProd = this.alphaBar(t);
    const alphaProdPrev = this.alphaBar(prevT);
    const betaProd = 1 - alphaProd;
    const betaProdPrev = 1 - alphaProdPrev;
    const currentAlpha = alphaProd / alphaProdPrev;
    const currentBeta = 1 - currentAlpha;

    const predOriginalSample = clipPredictedOriginal(predictOriginalSample(op, this.config.predictionType, modelOutput, sample, alphaProd), this.config);

    // Posterior mean, Ho et al. eq. 7: coefficients of x0 and of x_t.
    const x0Coeff = (Math.sqrt(alphaProdPrev) * currentBeta) / betaProd;
    const xtCoeff = (Math.sqrt(currentAlpha) * betaProdPrev) / betaProd;
    let prevSample = predOriginalSample.mul(x0Coeff).add(sample.mul(xtCoeff));

    if (t > 0) {
      const noise = stepNoise(op, options, sample);
      prevSample = prevSample.add(noise.mul(Math.sqrt(this.variance(t))));
    }
    return { prevSample, predOriginalSample };
  }
}

export const ddpmPlugin: NoiseSchedulerPlugin<DDPMConfig> = {
  name: 'ddpm',
  diffusersClassNames: ['DDPMScheduler'],
  defaults: DDPM_DEFAULTS,
  create: (config) => new DDPMScheduler(config),
  fromDiffusersConfig: (json) => DDPMScheduler.fromDiffusersConfig(json),
};
