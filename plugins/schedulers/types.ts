/**
 * The scheduler API, shaped after diffusers' SchedulerMixin so that a user who knows
 * `set_timesteps` / `scale_model_input` / `step` / `add_noise` finds the same calls here
 * (camelCase), and configs port over from `scheduler_config.json` unchanged in meaning.
 */
import type { Generator, Tensor } from '../../core/index.ts';

/** What the denoising model predicts: the noise, the velocity v, or x0 itself. */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2' | 'sigmoid';
/** How inference timesteps are spread over the training ones (Table 2 of arXiv:2305.08891). */
export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';
/** Per-sample timesteps: one number for the whole batch, one per sample, or a [N] tensor. */
export type Timesteps = number | readonly number[] | Tensor;

/** The options every discrete-time scheduler shares (diffusers' names in camelCase). */
export interface BaseSchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  /** Explicit betas (length numTrainTimesteps); overrides betaSchedule when given. */
  trainedBetas: readonly number[] | null;
  predictionType: PredictionType;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  /** Rescale betas to zero terminal SNR (arXiv:2305.08891); needs v_prediction to be useful. */
  rescaleBetasZeroSnr: boolean;
}

export interface StepOptions {
  /** Seeded noise source for stochastic steps (DDPM ancestral, DDIM eta > 0, SDE variants, Euler churn). */
  generator?: Generator;
  /** Use this noise instead of drawing it (diffusers' `variance_noise`). */
  varianceNoise?: Tensor;
  /** DDIM: weight of the stochastic part (0 = deterministic DDIM, 1 = DDPM-like). */
  eta?: number;
  /** DDIM: recompute epsilon from the clipped x0 (diffusers' `use_clipped_model_output`). */
  useClippedModelOutput?: boolean;
  /** Euler: stochasticity ("churn") of Karras et al.'s Algorithm 2; 0 disables it. */
  sChurn?: number;
  sTmin?: number;
  sTmax?: number;
  sNoise?: number;
}

export interface StepResult {
  /** x_{t-1}: the sample to feed the next step (the final image latent after the last step). */
  prevSample: Tensor;
  /** The x0 the step inferred from the model output, where the scheduler computes one. */
  predOriginalSample?: Tensor;
}

export interface NoiseScheduler {
  /** The registry name (`ddpm`, `ddim`, `euler`, `dpmpp-2m`). */
  readonly name: string;
  /** The resolved configuration (defaults filled in). */
  readonly config: Readonly<BaseSchedulerConfig>;
  readonly numTrainTimesteps: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  /** alpha-bar_t = prod_{s<=t} (1 - beta_s), on the host in float64. */
  readonly alphasCumprod: Float64Array;
  /** The inference timesteps, descending; all training timesteps until setTimesteps is called. */
  readonly timesteps: readonly number[];
  readonly numInferenceSteps: number | null;
  /** The standard deviation the initial noise must be multiplied by before the first step. */
  readonly initNoiseSigma: number;
  /** Model evaluations per step (1 for all schedulers here). */
  readonly order: number;

  setTimesteps(numInferenceSteps: number): void;
  /** Scales the model input for the current timestep (identity except for Euler). */
  scaleModelInput(sample: Tensor, timestep: number): Tensor;
  /** One reverse step: from x_t and the model output at `timestep` to x_{t-1}. */
  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: StepOptions): StepResult;
  /** Forward process q(x_t | x0): sqrt(abar) x0 + sqrt(1 - abar) noise (Euler: x0 + sigma noise). */
  addNoise(originalSamples: Tensor, noise: Tensor, timesteps: Timesteps): Tensor;
  /** The v-prediction target: sqrt(abar) noise - sqrt(1 - abar) x0. */
  getVelocity(sample: Tensor, noise: Tensor, timesteps: Timesteps): Tensor;
  /** Signal-to-noise ratio abar / (1 - abar) at each training timestep given. */
  snr(timesteps: Timesteps): Float64Array;
  /**
   * Min-SNR-gamma loss weights (arXiv:2303.09556), one per sample, shape [N]:
   * min(snr, gamma) / snr for epsilon, min(snr, gamma) / (snr + 1) for v, min(snr, gamma) for sample.
   */
  minSnrLossWeights(timesteps: Timesteps, gamma: number, options?: { predictionType?: PredictionType }): Tensor;
}

/** What `register(container)` puts under TOKENS.NoiseScheduler: one entry per scheduler kind. */
export interface NoiseSchedulerPlugin<C extends BaseSchedulerConfig = BaseSchedulerConfig> {
  /** The name a recipe config uses (`ddim`, ...). */
  readonly name: string;
  /** diffusers class names this plugin stands for (matched against `_class_name`). */
  readonly diffusersClassNames: readonly string[];
  readonly defaults: Readonly<C>;
  create(config?: Partial<C>): NoiseScheduler;
  /** Builds one from a diffusers `scheduler_config.json` object (snake_case keys). */
  fromDiffusersConfig(json: Readonly<Record<string, unknown>>): NoiseScheduler;
}
