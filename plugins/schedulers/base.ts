/**
 * What every discrete-time scheduler shares: the beta / alpha-bar tables, the training-time
 * forward process (addNoise, getVelocity, SNR, min-SNR weights), per-sample coefficient
 * tensors, and the spacing of inference timesteps over the training ones.
 */
import { ArgumentError, Tensor, randn, tensor } from '../../core/index.ts';
import { sameShape } from '../../core/shape.ts';
import { alphasCumprodOf, arange, linspace, makeBetas, roundHalfEven } from './betas.ts';
import type { BaseSchedulerConfig, NoiseScheduler, PredictionType, StepOptions, StepResult, Timesteps } from './types.ts';

/** Timesteps as host numbers, one per sample (a single number stays a one-element array). */
export function timestepValues(timesteps: Timesteps, op: string): number[] {
  if (typeof timesteps === 'number') return [timesteps];
  if (timesteps instanceof Tensor) {
    if (timesteps.ndim > 1) throw new ArgumentError(`${op}: timesteps tensor must have shape [N], got [${timesteps.shape.join(', ')}]`);
    return Array.from(timesteps.toArray());
  }
  if (!Array.isArray(timesteps)) throw new ArgumentError(`${op}: timesteps must be a number, an array of numbers or a [N] tensor`);
  return [...timesteps];
}

/**
 * Per-sample coefficients as something `x.mul` broadcasts: a plain number when all samples
 * share it, else a [N, 1, ..., 1] tensor on x's backend.
 */
export function perSample(values: readonly number[], like: Tensor, op: string): number | Tensor {
  if (values.length === 1) return values[0]!;
  const batch = like.shape[0];
  if (like.ndim === 0 || values.length !== batch) {
    throw new ArgumentError(`${op}: ${values.length} timesteps for a tensor of shape [${like.shape.join(', ')}] (need 1 or one per sample along axis 0)`);
  }
  const shape = [batch, ...Array.from({ length: like.ndim - 1 }, () => 1)];
  return tensor(Float64Array.from(values), shape, { backend: like.backend });
}

export function checkSameShape(op: string, a: Tensor, aName: string, b: Tensor, bName: string): void {
  if (!sameShape(a.shape, b.shape)) {
    throw new ArgumentError(`${op}: ${aName} has shape [${a.shape.join(', ')}] but ${bName} has [${b.shape.join(', ')}]`);
  }
}

/** The noise of a stochastic step: options.varianceNoise (of the sample's shape) or a draw from options.generator. */
export function stepNoise(op: string, options: StepOptions, sample: Tensor): Tensor {
  const noise = options.varianceNoise ?? randn([...sample.shape], { generator: options.generator, backend: sample.backend });
  checkSameShape(op, noise, 'varianceNoise', sample, 'sample');
  return noise;
}

/**
 * Inference timesteps for the spacings DDPM, DDIM and Euler share (diffusers'
 * set_timesteps): descending, possibly fractional for Euler's linspace.
 */
export function spacedTimesteps(spacing: BaseSchedulerConfig['timestepSpacing'], numTrain: number, steps: number, stepsOffset: number, rounded: boolean): number[] {
  switch (spacing) {
    case 'linspace': {
      const ts = Array.from(linspace(0, numTrain - 1, steps)).reverse();
      return rounded ? ts.map(roundHalfEven) : ts;
    }
    case 'leading': {
      const ratio = Math.floor(numTrain / steps);
      return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + stepsOffset);
    }
    case 'trailing': {
      const ratio = numTrain / steps;
      return Array.from(arange(numTrain, 0, -ratio), (t) => roundHalfEven(t) - 1);
    }
  }
}

/** Finds a timestep in the inference schedule (the second match if it repeats, as diffusers). */
export function indexForTimestep(op: string, schedule: readonly number[], timestep: number): number {
  const matches: number[] = [];
  for (let i = 0; i < schedule.length; i++) if (Math.abs(schedule[i]! - timestep) <= 1e-4 * Math.max(1, Math.abs(timestep))) matches.push(i);
  if (matches.length === 0) {
    throw new ArgumentError(`${op}: timestep ${timestep} is not in the inference schedule [${schedule.slice(0, 4).join(', ')}${schedule.length > 4 ? ', ...' : ''}] (call setTimesteps and pass its timesteps)`);
  }
  return matches.length > 1 ? matches[1]! : matches[0]!;
}

export abstract class DiscreteScheduler<C extends BaseSchedulerConfig = BaseSchedulerConfig> implements NoiseScheduler {
  abstract readonly name: string;
  readonly config: Readonly<C>;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly alphasCumprod: Float64Array;
  timesteps: readonly number[];
  numInferenceSteps: number | null = null;
  readonly order: number = 1;

  constructor(config: C) {
    this.config = Object.freeze({ ...config });
    this.betas = makeBetas(config);
    this.alphas = this.betas.map((b) => 1 - b);
    this.alphasCumprod = alphasCumprodOf(this.betas);
    this.timesteps = Array.from({ length: config.numTrainTimesteps }, (_, i) => config.numTrainTimesteps - 1 - i);
  }

  get numTrainTimesteps(): number {
    return this.config.numTrainTimesteps;
  }

  get initNoiseSigma(): number {
    return 1;
  }

  abstract setTimesteps(numInferenceSteps: number): void;
  abstract step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): StepResult;

  scaleModelInput(sample: Tensor, _timestep: number): Tensor {
    return sample;
  }

  protected checkInferenceSteps(n: number): void {
    if (!Number.isInteger(n) || n < 1 || n > this.numTrainTimesteps) {
      throw new ArgumentError(`${this.name}.setTimesteps: numInferenceSteps must be an integer in [1, ${this.numTrainTimesteps}] (numTrainTimesteps), got ${n}`);
    }
  }

  /** Integer training timesteps in [0, numTrainTimesteps), validated. */
  protected trainIndices(timesteps: Timesteps, op: string): number[] {
    const ts = timestepValues(timesteps, `${this.name}.${op}`);
    for (const t of ts) this.checkTrainTimestep(t, op);
    return ts;
  }

  protected checkTrainTimestep(t: number, op: string): void {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTrainTimesteps) {
      throw new ArgumentError(`${this.name}.${op}: timestep ${t} is not an integer in [0, ${this.numTrainTimesteps})`);
    }
  }

  /** alpha-bar at a training timestep; t < 0 means "before the first step" (alpha-bar 1 or as given). */
  protected alphaBar(t: number, beforeFirst = 1): number {
    return t >= 0 ? this.alphasCumprod[t]! : beforeFirst;
  }

  addNoise(originalSamples: Tensor, noise: Tensor, timesteps: Timesteps): Tensor {
    const op = `${this.name}.addNoise`;
    checkSameShape(op, originalSamples, 'originalSamples', noise, 'noise');
    const ts = this.trainIndices(timesteps, 'addNoise');
    const abar = ts.map((t) => this.alphasCumprod[t]!);
    const a = perSample(abar.map(Math.sqrt), originalSamples, op);
    const s = perSample(abar.map((x) => Math.sqrt(1 - x)), originalSamples, op);
    return originalSamples.mul(a).add(noise.mul(s));
  }

  getVelocity(sample: Tensor, noise: Tensor, timesteps: Timesteps): Tensor {
    const op = `${this.name}.getVelocity`;
    checkSameShape(op, sample, 'sample', noise, 'noise');
    const ts = this.trainIndices(timesteps, 'getVelocity');
    const abar = ts.map((t) => this.alphasCumprod[t]!);
    const a = perSample(abar.map(Math.sqrt), sample, op);
    const s = perSample(abar.map((x) => Math.sqrt(1 - x)), sample, op);
    return noise.mul(a).sub(sample.mul(s));
  }

  snr(timesteps: Timesteps): Float64Array {
    return Float64Array.from(this.trainIndices(timesteps, 'snr'), (t) => {
      const abar = this.alphasCumprod[t]!;
      return abar / (1 - abar);
    });
  }

  minSnrLossWeights(timesteps: Timesteps, gamma: number, options: { predictionType?: PredictionType } = {}): Tensor {
    if (!(gamma > 0)) throw new ArgumentError(`${this.name}.minSnrLossWeights: gamma must be > 0, got ${gamma}`);
    const predictionType = options.predictionType ?? this.config.predictionType;
    const backend = timesteps instanceof Tensor ? timesteps.backend : undefined;
    const weights = Array.from(this.snr(timesteps), (snr) => {
      const clipped = Math.min(snr, gamma);
      switch (predictionType) {
        // At SNR 0 (zero-terminal-SNR schedules) min(snr, gamma) / snr has the limit 1.
        case 'epsilon': return snr === 0 ? 1 : clipped / snr;
        case 'v_prediction': return clipped / (snr + 1);
        case 'sample': return clipped;
        default: throw new ArgumentError(`${this.name}.minSnrLossWeights: unknown predictionType '${String(predictionType)}'`);
      }
    });
    return tensor(Float64Array.from(weights), [weights.length], backend ? { backend } : undefined);
  }
}
