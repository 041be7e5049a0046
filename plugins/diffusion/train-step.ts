/**
 * One diffusion training step, the loss of latent diffusion with a ControlNet (LDM / CtrLoRA):
 *
 *   z0  = VAE.encode(image).sample() * scalingFactor          (no gradient: the VAE is frozen)
 *   eps ~ N(0, I) (+ noiseOffset * N(0, I) per sample and channel),  t ~ U{0, ..., T-1}
 *   x_t = scheduler.addNoise(z0, eps, t)
 *   residuals = ControlNet(condition, t, context)              (ctrLoRA base: the condition's latent;
 *                                                               vanilla: x_t and the condition image)
 *   pred = UNet(x_t, t, context, residuals)
 *   loss = mean_n w_n * mean_{c,h,w} (pred - target)^2,  target = eps | v | z0, w = min-SNR weights or 1
 *          (with per-pixel lossWeights m: mean_{c,h,w} m (pred - target)^2 / mean_{h,w} m per sample)
 *
 * Every random draw comes from the one `generator`, in a fixed order (documented on
 * `diffusionTrainingStep`), so a step is reproducible from the generator's state.
 */
import {
  ArgumentError, type ControlResiduals, type DiffusionControlNet, type DiffusionScheduler, type DiffusionTextEncoder, type DiffusionUNet,
  type DiffusionVae, type Generator, ShapeError, type Tensor, concat, noGrad, randn, tensor,
} from '../../core/index.ts';
import { fmtShape } from '../../core/errors.ts';
import { CtrLoraBaseControlNet, type ConditionRange, vaeLatents } from '../controlnet/controlnet.ts';
import { type PromptTokenizer, encodePrompts } from './text.ts';

export type PredictionTarget = 'epsilon' | 'v_prediction' | 'sample';

/** The models a step runs. Only the ControlNet (or its adapters) is usually trained. */
export interface DiffusionTrainingModels {
  vae: DiffusionVae;
  unet: DiffusionUNet;
  scheduler: DiffusionScheduler;
  /** Omit to train the UNet alone. */
  controlnet?: DiffusionControlNet | null;
  /** Needed unless every batch brings its `context`. */
  textEncoder?: DiffusionTextEncoder;
  tokenizer?: PromptTokenizer;
}

export interface DiffusionBatch {
  /** Target images [N, 3, H, W], in [0, 1] (see `imageRange`). Not needed when `latents` is given. */
  images?: Tensor;
  /** Precomputed target latents [N, 4, h, w], already times scalingFactor (skips the VAE). */
  latents?: Tensor;
  /** One prompt per sample. Not needed when `context` is given. */
  prompts?: readonly string[];
  /** Precomputed text context [N, L, D] (prompt dropout then needs `emptyContext`). */
  context?: Tensor;
  /** The context of the empty prompt [1, L, D], used for dropped prompts when `context` is given. */
  emptyContext?: Tensor;
  /** Condition images [N, 3, H, W] in [0, 1]. */
  conditions?: Tensor;
  /** ctrLoRA base only: precomputed (cached) condition latents [N, 4, h, w], already scaled. */
  conditionLatents?: Tensor;
  /**
   * Per-latent-pixel loss weights [N, 1, h, w] (e.g. more weight on a region of interest), >= 0
   * with a positive sum per sample. Each sample's loss becomes the weighted mean
   * sum(m (pred - target)^2) / (C sum(m)), so a constant map changes nothing.
   */
  lossWeights?: Tensor;
}

export interface DiffusionTrainingOptions {
  /** The source of every random number of the step. */
  generator: Generator;
  /** What the UNet predicts (default: the scheduler's predictionType). */
  predictionType?: PredictionTarget;
  /** Min-SNR-gamma loss weighting (arXiv:2303.09556), e.g. 5; null/undefined: plain mean. */
  minSnrGamma?: number | null;
  /** Offset noise strength (0.05-0.1 typical): eps += offset * N(0, 1) per sample and channel. Default 0. */
  noiseOffset?: number;
  /** Probability of replacing a prompt by "" (classifier-free guidance training). Default 0. */
  promptDropout?: number;
  /** Scales the ControlNet residuals (default 1). */
  controlStrength?: number;
  /** Range of `images`: 'zeroOne' (default) maps [0, 1] to the VAE's [-1, 1]; 'minusOneOne' takes them as they are. */
  imageRange?: 'zeroOne' | 'minusOneOne';
  /** How the ctrLoRA base feeds condition pixels to the VAE (see encodeCondition; default 'zeroOne', CtrLoRA's). */
  conditionRange?: ConditionRange;
  /**
   * Let the loss reach the text encoder (text-to-image pretraining of a small encoder with its
   * UNet): prompts are encoded with gradients recorded, and a given `context` is used as it is,
   * not detached. Default false: the encoder is frozen, as in every later stage.
   */
  trainTextEncoder?: boolean;
}

export interface DiffusionStepInfo {
  /** The timestep drawn for each sample. */
  timesteps: number[];
  /** The per-sample MSE (mean over channels and pixels; weighted by lossWeights when given), before min-SNR weighting. */
  perSampleLoss: number[];
  /** Their mean: the loss without min-SNR weighting. */
  unweightedLoss: number;
  /** The min-SNR weights applied (all 1 without minSnrGamma). */
  weights: number[];
  /** Which samples had their prompt replaced by "". */
  droppedPrompts: boolean[];
  predictionType: PredictionTarget;
}

export interface DiffusionStepResult {
  /** The scalar loss to call backward() on. */
  loss: Tensor;
  info: DiffusionStepInfo;
}

/** Images in imageRange as the VAE takes them ([-1, 1]). */
const toVaeRange = (range: 'zeroOne' | 'minusOneOne' | undefined, x: Tensor) => ((range ?? 'zeroOne') === 'zeroOne' ? x.mul(2).sub(1) : x);

/** noiseOffset and controlStrength, refused when not finite (one NaN turns every trained weight into NaN). */
function scalarOptions(op: string, options: DiffusionTrainingOptions): { offset: number; controlStrength: number } {
  const offset = options.noiseOffset ?? 0;
  const controlStrength = options.controlStrength ?? 1;
  if (!Number.isFinite(offset)) throw new ArgumentError(`${op}: noiseOffset must be a finite number, got ${offset}`);
  if (!Number.isFinite(controlStrength)) throw new ArgumentError(`${op}: controlStrength must be a finite number, got ${controlStrength}`);
  return { offset, controlStrength };
}

/** Target latents through the frozen VAE: posterior sample times scalingFactor, no gradient. */
export function encodeLatents(vae: DiffusionVae, images: Tensor, generator: Generator, imageRange?: 'zeroOne' | 'minusOneOne'): Tensor {
  return noGrad(() => vaeLatents(vae, toVaeRange(imageRange, images), { generator }));
}

/**
 * Draws, in this order, from `options.generator`: (1) one uniform per sample for prompt
 * dropout (only when promptDropout > 0); (2) the target posterior sample (unless `latents`
 * is given); (3) the condition posterior sample (ctrLoRA base, unless `conditionLatents`);
 * (4) the noise [N, C, h, w]; (5) the offset noise [N, C, 1, 1] (only when noiseOffset > 0);
 * (6) one timestep per sample, uniform in [0, numTrainTimesteps).
 */
export function diffusionTrainingStep(models: DiffusionTrainingModels, batch: DiffusionBatch, options: DiffusionTrainingOptions): DiffusionStepResult {
  const op = 'diffusionTrainingStep';
  const { vae, unet, scheduler, controlnet } = models;
  const g = options.generator;
  if (!g) throw new ArgumentError(`${op}: options.generator is required (every random draw of the step comes from it)`);
  const n = batch.latents?.shape[0] ?? batch.images?.shape[0];
  if (n === undefined) throw new ArgumentError(`${op}: the batch needs images or latents`);
  const predictionType = options.predictionType ?? scheduler.config.predictionType;
  const dropout = options.promptDropout ?? 0;
  if (!(dropout >= 0 && dropout <= 1)) throw new ArgumentError(`${op}: promptDropout must be in [0, 1], got ${dropout}`);
  const { offset, controlStrength } = scalarOptions(op, options);

  // (1) prompt dropout
  const droppedPrompts = Array.from({ length: n }, () => dropout > 0 && g.uniform() < dropout);
  const context = textContext(models, batch, droppedPrompts, n, op, options.trainTextEncoder ?? false);

  // (2) target latents
  const latents = batch.latents ?? encodeLatents(vae, batch.images!, g, options.imageRange);
  if (latents.ndim !== 4 || latents.shape[0] !== n || latents.shape[1] !== unet.config.inChannels) {
    throw new ShapeError(`${op}: latents must be [${n}, ${unet.config.inChannels}, h, w], got ${fmtShape(latents.shape)}`);
  }

  // (3) the condition (ctrLoRA base: its latent)
  let conditionInput: Tensor | null = null;
  if (controlnet) {
    if (controlnet.controlType === 'ctrloraBase') {
      conditionInput = batch.conditionLatents ?? (batch.conditions ? CtrLoraBaseControlNet.encodeCondition(vae, batch.conditions, { generator: g, range: options.conditionRange }) : null);
    } else {
      conditionInput = batch.conditions ?? null;
    }
    if (!conditionInput) throw new ArgumentError(`${op}: a ${controlnet.controlType} ControlNet needs batch.conditions${controlnet.controlType === 'ctrloraBase' ? ' (or conditionLatents)' : ''}`);
    if (conditionInput.shape[0] !== n) throw new ShapeError(`${op}: ${n} samples but ${conditionInput.shape[0]} conditions`);
  }

  // (4)-(6) noise and timesteps
  let noise = randn(latents.shape, { generator: g, backend: latents.backend });
  if (offset !== 0) noise = noise.add(randn([n, latents.shape[1]!, 1, 1], { generator: g, backend: latents.backend }).mul(offset));
  const timesteps = Array.from({ length: n }, () => g.int(0, scheduler.numTrainTimesteps));
  const noisy = scheduler.addNoise(latents, noise, timesteps);

  // The models: ControlNet residuals into the UNet.
  let residuals: ControlResiduals | undefined;
  if (controlnet && conditionInput) {
    const scale = { conditioningScale: controlStrength };
    residuals = controlnet.controlType === 'ctrloraBase'
      ? controlnet.forward(conditionInput, timesteps, context, scale)
      : controlnet.forward(noisy, timesteps, context, conditionInput, scale);
  }
  const pred = unet.forward(noisy, timesteps, context, residuals);

  const target = predictionType === 'epsilon' ? noise : predictionType === 'v_prediction' ? scheduler.getVelocity(latents, noise, timesteps) : latents;
  const perSample = batch.lossWeights ? weightedMse(pred, target, batch.lossWeights, op) : pred.sub(target).square().mean([1, 2, 3]);
  let loss: Tensor;
  let weights: number[];
  if (options.minSnrGamma !== undefined && options.minSnrGamma !== null) {
    weights = Array.from(scheduler.minSnrLossWeights(timesteps, options.minSnrGamma, { predictionType }).toArray());
    // Rebuilt on the loss's backend: the scheduler makes host-side weights on the default one.
    loss = perSample.mul(tensor(weights, [n], { backend: perSample.backend })).mean();
  } else {
    weights = timesteps.map(() => 1);
    loss = perSample.mean();
  }
  const perSampleLoss = Array.from(perSample.detach().toArray());
  return {
    loss,
    info: {
      timesteps,
      perSampleLoss,
      unweightedLoss: perSampleLoss.reduce((a, b) => a + b, 0) / n,
      weights,
      droppedPrompts,
      predictionType,
    },
  };
}

/** Per sample: sum(m (pred - target)^2) / (C sum(m)), m [N, 1, h, w] broadcast over channels. */
function weightedMse(pred: Tensor, target: Tensor, m: Tensor, op: string): Tensor {
  const [n, , h, w] = pred.shape as [number, number, number, number];
  if (m.ndim !== 4 || m.shape[0] !== n || m.shape[1] !== 1 || m.shape[2] !== h || m.shape[3] !== w) {
    throw new ShapeError(`${op}: lossWeights must be [${n}, 1, ${h}, ${w}], got ${fmtShape(m.shape)}`);
  }
  const weights = m.detach();
  const sums = Array.from(weights.sum([1, 2, 3]).toArray());
  if (!sums.every((s) => Number.isFinite(s) && s > 0)) throw new ArgumentError(`${op}: lossWeights must be finite with a positive sum per sample, got sums ${sums.join(', ')}`);
  return pred.sub(target).square().mul(weights).mean([1, 2, 3]).div(weights.mean([1, 2, 3]));
}

function textContext(models: DiffusionTrainingModels, batch: DiffusionBatch, dropped: readonly boolean[], n: number, op: string, trainable: boolean): Tensor {
  if (batch.context) {
    if (batch.context.shape[0] !== n) throw new ShapeError(`${op}: context has ${batch.context.shape[0]} rows for ${n} samples`);
    if (!dropped.some(Boolean)) return trainable ? batch.context : batch.context.detach();
    if (!batch.emptyContext) throw new ArgumentError(`${op}: prompt dropout with a precomputed context needs batch.emptyContext (the context of "")`);
    const empty = batch.emptyContext;
    return noGrad(() => concat(dropped.map((d, i) => (d ? empty.slice(0, 0, 1) : batch.context!.slice(0, i, i + 1))), 0).detach());
  }
  if (!batch.prompts) throw new ArgumentError(`${op}: the batch needs prompts (or a precomputed context)`);
  if (batch.prompts.length !== n) throw new ShapeError(`${op}: ${batch.prompts.length} prompts for ${n} samples`);
  if (!models.textEncoder || !models.tokenizer) throw new ArgumentError(`${op}: prompts need models.textEncoder and models.tokenizer`);
  const prompts = batch.prompts.map((p, i) => (dropped[i] ? '' : p));
  return trainable ? models.textEncoder.forward(models.tokenizer.toTensor(prompts)) : encodePrompts(models.textEncoder, models.tokenizer, prompts);
}
