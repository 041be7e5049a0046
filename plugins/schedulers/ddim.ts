/**
 * DDIM (Song et al. 2020) as diffusers' DDIMScheduler, eq. 12: x_{t'} = sqrt(abar_t') x0 +
 * sqrt(1 - abar_t' - sigma^2) eps + sigma z, with sigma = eta * sqrt(posterior variance).
 * eta = 0 is deterministic; eta = 1 matches DDPM's ancestral variance.
 */
import { ArgumentError, type Tensor } from '../../core/index.ts';
import { DiscreteScheduler, checkSameShape, stepNoise, spacedTimesteps } from './base.ts';
import { BASE_DEFAULTS, fromDiffusersKeys, resolveConfig } from './config.ts';
import { clipPredictedOriginal, predictEpsilon, predictOriginalSample } from './prediction.ts';
import type { BaseSchedulerConfig, NoiseSchedulerPlugin, StepOptions, StepResult } from './types.ts';

export interface DDIMConfig extends BaseSchedulerConfig {
  clipSample: boolean;
  clipSampleRange: number;
  /** The alpha-bar "before" the first training step: 1, or abar_0 when false (SD1.5). */
  setAlphaToOne: boolean;
  thresholding: boolean;
  dynamicThresholdingRatio: number;
  sampleMaxValue: number;
}

export const DDIM_DEFAULTS: Readonly<DDIMConfig> = Object.freeze({
  ...BASE_DEFAULTS,
  clipSample: true,
  clipSampleRange: 1.0,
  setAlphaToOne: true,
  thresholding: false,
  dynamicThresholdingRatio: 0.995,
  sampleMaxValue: 1.0,
});

export class DDIMScheduler extends DiscreteScheduler<DDIMConfig> {
  readonly name = 'ddim';
  /** alpha-bar used when the previous timestep is before 0. */
  readonly finalAlphaCumprod: number;

  constructor(options?: Partial<DDIMConfig>) {
    super(resolveConfig('ddim', DDIM_DEFAULTS, options));
    this.finalAlphaCumprod = this.config.setAlphaToOne ? 1 : this.alphasCumprod[0]!;
  }

  static fromDiffusersConfig(json: Readonly<Record<string, unknown>>): DDIMScheduler {
    return new DDIMScheduler(fromDiffusersKeys('ddim', DDIM_DEFAULTS, json));
  }

  setTimesteps(numInferenceSteps: number): void {
    this.checkInferenceSteps(numInferenceSteps);
    this.numInferenceSteps = numInferenceSteps;
    const c = this.config;
    this.timesteps = spacedTimesteps(c.timestepSpacing, c.numTrainTimesteps, numInferenceSteps, c.stepsOffset, true);
  }

  previousTimestep(t: number): number {
    if (this.numInferenceSteps === null) throw new ArgumentError('ddim.step: call setTimesteps(numInferenceSteps) first');
    return t - Math.floor(this.numTrainTimesteps / this.numInferenceSteps);
  }

  /** (1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev): eq. 16's sigma^2 at eta = 1. */
  variance(t: number, prevT: number): number {
    const alphaProd = this.alphaBar(t);
    const alphaProdPrev = this.alphaBar(prevT, this.finalAlphaCumprod);
    return ((1 - alphaProdPrev) / (1 - alphaProd)) * (1 - alphaProd / alphaProdPrev);
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options: StepOptions = {}): StepResult {
    const op = 'ddim.step';
    checkSameShape(op, modelOutput, 'modelOutput', sample, 'sample');
    const eta = options.eta ?? 0;
    if (!(eta >= 0)) throw new ArgumentError(`${op}: eta must be >= 0, got ${eta}`);
    const t = timestep;
    this.checkTrainTimestep(t, 'step');
    const prevT = this.previousTimestep(t);
    const alphaProd = this.alphaBar(t);
    const alphaProdPrev = this.alphaBar(prevT, this.finalAlphaCumprod);
    const { predictionType } = this.config;

    let predOriginalSample = predictOriginalSample(op, predictionType, modelOutput, sample, alphaProd);
    let predEpsilon = predictEpsilon(op, predictionType, modelOutput, sample, alphaProd, predOriginalSample);
    predOriginalSample = clipPredictedOriginal(predOriginalSample, this.config);

    const stdDev = eta * Math.sqrt(this.variance(t, prevT));
    if (options.useClippedModelOutput) {
      predEpsilon = sample.sub(predOriginalSample.mul(Math.sqrt(alphaProd))).div(Math.sqrt(1 - alphaProd));
    }
    // "direction pointing to x_t" of eq. 12
    const direction = predEpsilon.mul(Math.sqrt(Math.max(1 - alphaProdPrev - stdDev * stdDev, 0)));
    let prevSample = predOriginalSample.mul(Math.sqrt(alphaProdPrev)).add(direction);
    if (eta > 0) {
      const noise = stepNoise(op, options, sample);
      prevSample = prevSample.add(noise.mul(stdDev));
    }
    return { prevSample, predOriginalSample };
  }
}

export const ddimPlugin: NoiseSchedulerPlugin<DDIMConfig> = {
  name: 'ddim',
  diffusersClassNames: ['DDIMScheduler'],
  defaults: DDIM_DEFAULTS,
  create: (config) => new DDIMScheduler(config),
  fromDiffusersConfig: (json) => DDIMScheduler.fromDiffusersConfig(json),
};
