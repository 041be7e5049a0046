/**
 * The contracts of the diffusion plugin kinds (VAE, UNet, text encoder, ControlNet, adapter,
 * noise scheduler, sampler), declared here so that core's tokens can be typed without core
 * importing any plugin. They are structural and kept small: what a recipe or the training
 * step / sampling pipeline calls. The plugins' classes satisfy them as they are
 * (plugins/*: AutoencoderKL, UNet2DConditionModel, ClipTextModel, ControlNetModel,
 * CtrLoraBaseControlNet, the LoRA adapter factory, the scheduler plugins, DiffusionPipeline).
 */
import type { Module } from '../nn/module.ts';
import type { Generator } from '../random.ts';
import type { Tensor } from '../tensor.ts';

/** Timesteps: one for the whole batch, one per sample, or a [N] tensor. */
export type DiffusionTimesteps = number | readonly number[] | Tensor;

/** The VAE's posterior over latents. */
export interface LatentPosterior {
  sample(generator?: Generator): Tensor;
  mode(): Tensor;
}

/** TOKENS.VAE: images [N, C, H, W] in [-1, 1] <-> unscaled latents. */
export interface DiffusionVae {
  /** Diffusion latents are posterior samples times this (0.18215 for SD1.5). */
  readonly scalingFactor: number;
  /** Image side per latent pixel (8 for SD1.5). */
  readonly downsampleFactor: number;
  encode(images: Tensor): LatentPosterior;
  decode(latents: Tensor): Tensor;
}

/** What a ControlNet hands the UNet (diffusers' names). */
export interface ControlResiduals {
  downBlockAdditionalResiduals: Tensor[];
  midBlockAdditionalResidual: Tensor;
}

/** TOKENS.UNet: predicts noise (or v) from x_t, t and the text context, optionally with ControlNet residuals. */
export interface DiffusionUNet {
  readonly config: { readonly inChannels: number; readonly crossAttentionDim: number; readonly sampleSize?: number };
  forward(
    sample: Tensor,
    timesteps: DiffusionTimesteps,
    encoderHiddenStates: Tensor,
    options?: { downBlockAdditionalResiduals?: readonly Tensor[] | null; midBlockAdditionalResidual?: Tensor | null },
  ): Tensor;
}

/** TOKENS.TextEncoder: token ids [N, L] -> hidden states [N, L, hiddenSize]. */
export interface DiffusionTextEncoder {
  readonly hiddenSize: number;
  readonly contextLength: number;
  readonly vocabSize: number;
  forward(inputIds: Tensor, options?: { attentionMask?: Tensor | null }): Tensor;
}

/** Options every ControlNet forward takes. */
export interface ControlForwardOptions {
  /** Multiplies every residual (control strength). Default 1. */
  conditioningScale?: number;
}

/** diffusers' ControlNetModel: conv_in(x_t) + an embedding of the condition image. */
export interface VanillaControlNet {
  readonly controlType: 'vanilla';
  forward(sample: Tensor, timesteps: DiffusionTimesteps, encoderHiddenStates: Tensor, conditionImage: Tensor, options?: ControlForwardOptions): ControlResiduals;
}

/** CtrLoRA's base ControlNet: the condition enters as its scaled VAE latent; x_t is not an input. */
export interface BaseControlNet {
  readonly controlType: 'ctrloraBase';
  forward(conditionLatent: Tensor, timesteps: DiffusionTimesteps, encoderHiddenStates: Tensor, options?: ControlForwardOptions): ControlResiduals;
}

/** TOKENS.ControlNet: either kind, told apart by `controlType`. */
export type DiffusionControlNet = VanillaControlNet | BaseControlNet;

/** A wrapped model to which named adapters can be added (LoraModel). */
export interface AdapterHost {
  addAdapter(name: string, config: { rank: number; targetModules: unknown }): string[];
  adapterNames(): string[];
  setActiveAdapters(active: readonly string[] | Readonly<Record<string, number>>): void;
  adapterParameters(name?: string): Tensor[];
}

/** TOKENS.Adapter: wraps models and picks the trainable set (the LoRA plugin's factory). */
export interface AdapterProvider {
  readonly name: string;
  wrap(model: Module): AdapterHost;
  selectTrainable(model: Module, options?: { adapter?: string }): { names: string[]; parameters: Tensor[]; summary: string };
}

/** A running noise scheduler (per-run state: timesteps, step index, history). */
export interface DiffusionScheduler {
  readonly name: string;
  readonly config: { readonly predictionType: 'epsilon' | 'v_prediction' | 'sample' };
  readonly numTrainTimesteps: number;
  readonly timesteps: readonly number[];
  readonly initNoiseSigma: number;
  setTimesteps(numInferenceSteps: number): void;
  scaleModelInput(sample: Tensor, timestep: number): Tensor;
  step(modelOutput: Tensor, timestep: number, sample: Tensor, options?: { generator?: Generator }): { prevSample: Tensor };
  addNoise(originalSamples: Tensor, noise: Tensor, timesteps: DiffusionTimesteps): Tensor;
  getVelocity(sample: Tensor, noise: Tensor, timesteps: DiffusionTimesteps): Tensor;
  minSnrLossWeights(timesteps: DiffusionTimesteps, gamma: number, options?: { predictionType?: 'epsilon' | 'v_prediction' | 'sample' }): Tensor;
}

/** TOKENS.NoiseScheduler: one registration per scheduler kind; `create` makes a fresh scheduler. */
export interface NoiseSchedulerFactory {
  readonly name: string;
  readonly diffusersClassNames: readonly string[];
  create(config?: Record<string, unknown>): DiffusionScheduler;
}

/** One control condition of a sampling request. */
export interface SampleCondition {
  /** Condition image [N or 1, 3, H, W] in [0, 1]. */
  image: Tensor;
  /** Weight of this condition's residuals in the sum (default 1). */
  weight?: number;
  /**
   * Puts the condition's own adapter (LoRA, zero convs, norms) in place before its ControlNet
   * pass; the pipeline calls it only when another condition ran since (once per run for a
   * single condition). Needed when several conditions share one base ControlNet.
   */
  activate?: () => void;
  /** Precomputed condition latent (ctrLoRA base), skips the VAE encode. */
  latent?: Tensor;
}

/** What a sampler is asked for. */
export interface SampleRequest {
  prompt: string | readonly string[];
  /** Prompt of the unconditional branch (default ''). */
  negativePrompt?: string | readonly string[];
  conditions?: readonly SampleCondition[];
  /** Scheduler name (`ddim`, `euler`, `dpmpp-2m`, `ddpm`; default `ddim`). */
  scheduler?: string;
  steps?: number;
  guidanceScale?: number;
  controlStrength?: number;
  seed?: number;
  width?: number;
  height?: number;
  /** Images per prompt when `prompt` is one string (default 1). */
  count?: number;
}

/** TOKENS.Sampler: prompts (+ conditions) -> images [N, 3, H, W] in [0, 1]. */
export interface DiffusionSampler {
  readonly name: string;
  sample(request: SampleRequest): { images: Tensor };
}
