/**
 * DPM-Solver++ (Lu et al. 2022, arXiv:2211.01095) multistep, as diffusers'
 * DPMSolverMultistepScheduler with algorithm 'dpmsolver++' (or its SDE variant): it integrates
 * the data-prediction ODE in log-SNR lambda = log(alpha_t / sigma_t), first order on the
 * first step, then second order (2M) from the last two x0 predictions, dropping to first
 * order on the final step(s) for stability when few steps are used.
 */
import { ArgumentError, type Tensor } from '../../core/index.ts';
import { DiscreteScheduler, checkSameShape, indexForTimestep, perSample, stepNoise, timestepValues } from './base.ts';
import { BASE_DEFAULTS, fromDiffusersKeys, resolveConfig } from './config.ts';
import { arange, interpIndex, linspace, roundHalfEven } from './betas.ts';
import { thresholdSample } from './prediction.ts';
import { alphaSigmaOf, karrasSigmas, sigmaToT, sigmasOf } from './sigmas.ts';
import type { BaseSchedulerConfig, NoiseSchedulerPlugin, StepOptions, StepResult, Timesteps } from './types.ts';

export interface DPMSolverMultistepConfig extends BaseSchedulerConfig {
  /** 1 (DPM-Solver++ 1S = DDIM) or 2 (2M). */
  solverOrder: number;
  thresholding: boolean;
  dynamicThresholdingRatio: number;
  sampleMaxValue: number;
  algorithmType: 'dpmsolver++' | 'sde-dpmsolver++';
  solverType: 'midpoint' | 'heun';
  /** First order on the last step(s) when fewer than 15 steps are used. */
  lowerOrderFinal: boolean;
  eulerAtFinal: boolean;
  useKarrasSigmas: boolean;
  finalSigmasType: 'zero' | 'sigma_min';
  /** Timesteps whose lambda is below this are cut off (helps squaredcos_cap_v2). */
  lambdaMinClipped: number;
}

export const DPM_DEFAULTS: Readonly<DPMSolverMultistepConfig> = Object.freeze({
  ...BASE_DEFAULTS,
  timestepSpacing: 'linspace',
  solverOrder: 2,
  thresholding: false,
  dynamicThresholdingRatio: 0.995,
  sampleMaxValue: 1.0,
  algorithmType: 'dpmsolver++',
  solverType: 'midpoint',
  lowerOrderFinal: true,
  eulerAtFinal: false,
  useKarrasSigmas: false,
  finalSigmasType: 'zero',
  lambdaMinClipped: -Infinity,
});

const ENUMS = {
  algorithmType: ['dpmsolver++', 'sde-dpmsolver++'],
  solverType: ['midpoint', 'heun'],
  finalSigmasType: ['zero', 'sigma_min'],
};

const lambdaOf = (sigma: number): number => {
  const { alpha, sigma: s } = alphaSigmaOf(sigma);
  return Math.log(alpha) - Math.log(s);
};

export class DPMSolverMultistepScheduler extends DiscreteScheduler<DPMSolverMultistepConfig> {
  readonly name = 'dpmpp-2m';
  /** Inference sigmas (descending) with the final sigma appended: length steps + 1. */
  sigmas: Float64Array;
  /** The x0 predictions of the last solverOrder steps, oldest first. */
  private modelOutputs: (Tensor | null)[];
  private lowerOrderNums = 0;
  private stepIdx: number | null = null;
  private beginIdx: number | null = null;

  constructor(options?: Partial<DPMSolverMultistepConfig>) {
    super(resolveConfig('dpmpp-2m', DPM_DEFAULTS, options, ENUMS));
    const order = this.config.solverOrder;
    if (order !== 1 && order !== 2) {
      throw new ArgumentError(`dpmpp-2m: solverOrder must be 1 or 2 (third order is not implemented), got ${order}`);
    }
    if (this.config.rescaleBetasZeroSnr) this.alphasCumprod[this.alphasCumprod.length - 1] = 2 ** -24;
    this.sigmas = sigmasOf(this.alphasCumprod);
    this.modelOutputs = Array.from({ length: order }, () => null);
  }

  static fromDiffusersConfig(json: Readonly<Record<string, unknown>>): DPMSolverMultistepScheduler {
    return new DPMSolverMultistepScheduler(fromDiffusersKeys('dpmpp-2m', DPM_DEFAULTS, json, {
      use_lu_lambdas: false,
      use_exponential_sigmas: false,
      use_beta_sigmas: false,
      use_flow_sigmas: false,
      variance_type: null,
    }));
  }

  get stepIndex(): number | null {
    return this.stepIdx;
  }

  setBeginIndex(index: number): void {
    this.beginIdx = index;
  }

  setTimesteps(numInferenceSteps: number): void {
    this.checkInferenceSteps(numInferenceSteps);
    const c = this.config;
    const n = numInferenceSteps;
    const N = c.numTrainTimesteps;
    const trainSigmas = sigmasOf(this.alphasCumprod);
    // searchsorted(flip(lambda), lambdaMinClipped): lambdas decrease with t, so count from the end.
    let clipped = 0;
    for (let t = N - 1; t >= 0 && lambdaOf(trainSigmas[t]!) < c.lambdaMinClipped; t--) clipped++;
    const lastTimestep = N - clipped;

    let timesteps: number[];
    switch (c.timestepSpacing) {
      case 'linspace':
        timesteps = Array.from(linspace(0, lastTimestep - 1, n + 1), roundHalfEven).reverse().slice(0, n);
        break;
      case 'leading': {
        const ratio = Math.floor(lastTimestep / (n + 1));
        timesteps = Array.from({ length: n }, (_, i) => (n - i) * ratio + c.stepsOffset);
        break;
      }
      case 'trailing':
        timesteps = Array.from(arange(lastTimestep, 0, -N / n), (t) => roundHalfEven(t) - 1);
        break;
    }
    let sigmas: number[];
    if (c.useKarrasSigmas) {
      const logSigmas = trainSigmas.map(Math.log);
      sigmas = Array.from(karrasSigmas(trainSigmas[0]!, trainSigmas[N - 1]!, n));
      timesteps = sigmas.map((s) => roundHalfEven(sigmaToT(s, logSigmas)));
    } else {
      sigmas = timesteps.map((t) => interpIndex(t, trainSigmas));
    }
    const last = c.finalSigmasType === 'zero' ? 0 : trainSigmas[0]!;
    this.sigmas = Float64Array.from([...sigmas, last]);
    this.timesteps = timesteps;
    this.numInferenceSteps = timesteps.length;
    this.modelOutputs = Array.from({ length: c.solverOrder }, () => null);
    this.lowerOrderNums = 0;
    this.stepIdx = null;
    this.beginIdx = null;
  }

  /** The data prediction x0 from the model output at the current sigma. */
  convertModelOutput(modelOutput: Tensor, sample: Tensor, index: number): Tensor {
    const { alpha, sigma } = alphaSigmaOf(this.sigmas[index]!);
    let x0: Tensor;
    switch (this.config.predictionType) {
      case 'epsilon':
        x0 = sample.sub(modelOutput.mul(sigma)).div(alpha);
        break;
      case 'v_prediction':
        x0 = sample.mul(alpha).sub(modelOutput.mul(sigma));
        break;
      case 'sample':
        x0 = modelOutput;
        break;
    }
    return this.config.thresholding ? thresholdSample(x0, this.config.dynamicThresholdingRatio, this.config.sampleMaxValue) : x0;
  }

  step(modelOutput: Tensor, timestep: number, sample: Tensor, options: StepOptions = {}): StepResult {
    const op = 'dpmpp-2m.step';
    checkSameShape(op, modelOutput, 'modelOutput', sample, 'sample');
    if (this.numInferenceSteps === null) throw new ArgumentError(`${op}: call setTimesteps(numInferenceSteps) first`);
    if (this.stepIdx === null) this.stepIdx = this.beginIdx ?? indexForTimestep(op, this.timesteps, timestep);
    const index = this.stepIdx;
    if (index >= this.timesteps.length) throw new ArgumentError(`${op}: the schedule is finished (${this.timesteps.length} steps); call setTimesteps again`);
    const c = this.config;
    const steps = this.timesteps.length;
    const lowerOrderFinal = index === steps - 1 && (c.eulerAtFinal || (c.lowerOrderFinal && steps < 15) || c.finalSigmasType === 'zero');

    const x0 = this.convertModelOutput(modelOutput, sample, index);
    this.modelOutputs.shift();
    this.modelOutputs.push(x0);

    const noise = c.algorithmType === 'sde-dpmsolver++' ? stepNoise(op, options, sample) : null;
    const prevSample = c.solverOrder === 1 || this.lowerOrderNums < 1 || lowerOrderFinal
      ? this.firstOrderUpdate(x0, sample, noise, index)
      : this.secondOrderUpdate(sample, noise, index);
    if (this.lowerOrderNums < c.solverOrder) this.lowerOrderNums++;
    this.stepIdx = index + 1;
    return { prevSample, predOriginalSample: x0 };
  }

  /** DPM-Solver++(1) = DDIM in lambda: x_t = (sigma_t / sigma_s) x_s - alpha_t (e^{-h} - 1) x0. */
  private firstOrderUpdate(x0: Tensor, sample: Tensor, noise: Tensor | null, index: number): Tensor {
    const t = alphaSigmaOf(this.sigmas[index + 1]!);
    const s = alphaSigmaOf(this.sigmas[index]!);
    // At a final sigma of 0, lambda_t = +inf: e^{-h} = 0 and the step returns x0 exactly.
    const h = Math.log(t.alpha) - Math.log(t.sigma) - (Math.log(s.alpha) - Math.log(s.sigma));
    if (noise === null) {
      return sample.mul(t.sigma / s.sigma).sub(x0.mul(t.alpha * (Math.exp(-h) - 1)));
    }
    return sample.mul((t.sigma / s.sigma) * Math.exp(-h))
      .add(x0.mul(t.alpha * (1 - Math.exp(-2 * h))))
      .add(noise.mul(t.sigma * Math.sqrt(1 - Math.exp(-2 * h))));
  }

  /** DPM-Solver++(2M): D0 = m0, D1 = (m0 - m1) / r0 with r0 = h_{prev} / h. */
  private secondOrderUpdate(sample: Tensor, noise: Tensor | null, index: number): Tensor {
    const m0 = this.modelOutputs[this.modelOutputs.length - 1]!;
    const m1 = this.modelOutputs[this.modelOutputs.length - 2]!;
    const t = alphaSigmaOf(this.sigmas[index + 1]!);
    const s0 = alphaSigmaOf(this.sigmas[index]!);
    const s1 = alphaSigmaOf(this.sigmas[index - 1]!);
    const lambdaT = Math.log(t.alpha) - Math.log(t.sigma);
    const lambdaS0 = Math.log(s0.alpha) - Math.log(s0.sigma);
    const lambdaS1 = Math.log(s1.alpha) - Math.log(s1.sigma);
    const h = lambdaT - lambdaS0;
    const r0 = (lambdaS0 - lambdaS1) / h;
    const d1 = m0.sub(m1).mul(1 / r0);
    const midpoint = this.config.solverType === 'midpoint';
    if (noise === null) {
      const e = Math.exp(-h) - 1;
      const base = sample.mul(t.sigma / s0.sigma).sub(m0.mul(t.alpha * e));
      return midpoint ? base.sub(d1.mul(0.5 * t.alpha * e)) : base.add(d1.mul(t.alpha * (e / h + 1)));
    }
    const e2 = 1 - Math.exp(-2 * h);
    const base = sample.mul((t.sigma / s0.sigma) * Math.exp(-h)).add(m0.mul(t.alpha * e2));
    const withD1 = midpoint ? base.add(d1.mul(0.5 * t.alpha * e2)) : base.add(d1.mul(t.alpha * (e2 / (-2 * h) + 1)));
    return withD1.add(noise.mul(t.sigma * Math.sqrt(e2)));
  }

  /** img2img-style noising at inference sigmas: alpha_t x0 + sigma_t noise (timesteps from the schedule). */
  override addNoise(originalSamples: Tensor, noise: Tensor, timesteps: Timesteps): Tensor {
    const op = 'dpmpp-2m.addNoise';
    checkSameShape(op, originalSamples, 'originalSamples', noise, 'noise');
    // Before setTimesteps there is no inference schedule to look timesteps up in: use the
    // training forward process at t (the same alpha_t, sigma_t a schedule would give there).
    if (this.numInferenceSteps === null) return super.addNoise(originalSamples, noise, timesteps);
    const ts = timestepValues(timesteps, op);
    const indices = ts.map((t) => (this.beginIdx === null ? indexForTimestep(op, this.timesteps, t) : this.stepIdx ?? this.beginIdx!));
    const pairs = indices.map((i) => alphaSigmaOf(this.sigmas[i]!));
    return originalSamples.mul(perSample(pairs.map((p) => p.alpha), originalSamples, op))
      .add(noise.mul(perSample(pairs.map((p) => p.sigma), originalSamples, op)));
  }
}

export const dpmSolverMultistepPlugin: NoiseSchedulerPlugin<DPMSolverMultistepConfig> = {
  name: 'dpmpp-2m',
  diffusersClassNames: ['DPMSolverMultistepScheduler'],
  defaults: DPM_DEFAULTS,
  create: (config) => new DPMSolverMultistepScheduler(config),
  fromDiffusersConfig: (json) => DPMSolverMultistepScheduler.fromDiffusersConfig(json),
};
