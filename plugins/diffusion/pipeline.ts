/**
 * The sampling pipeline (Stable Diffusion + ControlNet / CtrLoRA): prompts and conditions
 * -> images [N, 3, H, W] in [0, 1].
 *
 *   x_T ~ N(0, I) * initNoiseSigma;  for t in scheduler.timesteps:
 *     eps_c = UNet(x_t, t, ctx(prompt),          residuals(conditions, ctx(prompt)))
 *     eps_u = UNet(x_t, t, ctx(negativePrompt),  residuals(conditions, ctx(negativePrompt)))
 *     eps   = eps_u + guidanceScale * (eps_c - eps_u)        (skipped when guidanceScale is 1)
 *     x_t   = scheduler.step(eps, t, x_t)
 *   image = (VAE.decode(x_0 / scalingFactor) + 1) / 2, clamped to [0, 1]
 *
 * The unconditional branch keeps the condition and only swaps the prompt, as CtrLoRA's
 * sampler does. Several conditions each run through the ControlNet (after their `activate`
 * hook has put their own adapter in place) and their residuals are summed with their weights.
 */
import {
  ArgumentError, type ControlResiduals, type DiffusionControlNet, type DiffusionSampler, type DiffusionTextEncoder, type DiffusionUNet,
  type DiffusionVae, Generator, type NoiseSchedulerFactory, type SampleCondition, type SampleRequest, ShapeError, type Tensor, concat, noGrad, randn,
} from '../../core/index.ts';
import { fmtShape } from '../../core/errors.ts';
import { CtrLoraBaseControlNet, type ConditionRange, sumControlResiduals } from '../controlnet/controlnet.ts';
import { findScheduler } from '../schedulers/index.ts';
import { type PromptTokenizer, encodePrompts } from './text.ts';

export interface DiffusionPipelineModels {
  vae: DiffusionVae;
  unet: DiffusionUNet;
  textEncoder: DiffusionTextEncoder;
  tokenizer: PromptTokenizer;
  /** Needed only for requests with conditions. */
  controlnet?: DiffusionControlNet | null;
  /** The scheduler kinds to pick from by name (the schedulers plugin's `schedulerPlugins`). */
  schedulers: readonly NoiseSchedulerFactory[];
}

export interface DiffusionPipelineOptions {
  /** Passed to every scheduler created (use the training schedule: betas, predictionType, ...). */
  schedulerConfig?: Record<string, unknown>;
  /**
   * Options of one scheduler kind, by its name, merged over schedulerConfig (a scheduler
   * refuses options it does not have), e.g. SD1.5's DDIM: `{ ddim: { setAlphaToOne: false, stepsOffset: 1 } }`.
   */
  schedulerOverrides?: Readonly<Record<string, Record<string, unknown>>>;
  /** Scheduler when a request names none. Default 'ddim'. */
  defaultScheduler?: string;
  /** How the ctrLoRA base feeds condition pixels to the VAE (default 'zeroOne', CtrLoRA's). */
  conditionRange?: ConditionRange;
  /** The name this sampler registers under. Default 'controlnet'. */
  name?: string;
}

export interface SampleResult {
  /** [N, 3, H, W] in [0, 1]. */
  images: Tensor;
  /** The final latents [N, C, h, w] (scaled, as the UNet sees them). */
  latents: Tensor;
  /** The timesteps that were run. */
  timesteps: number[];
}

/** The defaults of a request (diffusers' / CtrLoRA's usual values). */
export const SAMPLE_DEFAULTS = { scheduler: 'ddim', steps: 50, guidanceScale: 7.5, controlStrength: 1, seed: 0, count: 1 } as const;

export class DiffusionPipeline implements DiffusionSampler {
  readonly name: string;

  constructor(readonly models: DiffusionPipelineModels, readonly options: DiffusionPipelineOptions = {}) {
    this.name = options.name ?? 'controlnet';
    if (!models.schedulers.length) throw new ArgumentError('DiffusionPipeline: no schedulers given (pass the schedulers plugin\'s schedulerPlugins)');
  }

  /**
   * Random draws, in order, from one Generator(seed): the initial noise, then each
   * condition's posterior sample (ctrLoRA base, unless `latent` is given or the control
   * strength is 0), then whatever
   * the scheduler's steps draw (DDPM, DDIM with eta > 0).
   */
  sample(request: SampleRequest): SampleResult {
    const op = `DiffusionPipeline(${this.name}).sample`;
    const { vae, unet, controlnet } = this.models;
    const prompts = typeof request.prompt === 'string' ? Array.from({ length: request.count ?? SAMPLE_DEFAULTS.count }, () => request.prompt as string) : [...request.prompt];
    const n = prompts.length;
    if (n === 0) throw new ArgumentError(`${op}: no prompts`);
    const negative = request.negativePrompt === undefined || typeof request.negativePrompt === 'string' ? prompts.map(() => (request.negativePrompt as string | undefined) ?? '') : [...request.negativePrompt];
    if (negative.length !== n) throw new ArgumentError(`${op}: ${negative.length} negative prompts for ${n} prompts`);
    const steps = request.steps ?? SAMPLE_DEFAULTS.steps;
    const guidance = request.guidanceScale ?? SAMPLE_DEFAULTS.guidanceScale;
    const strength = request.controlStrength ?? SAMPLE_DEFAULTS.controlStrength;
    const conditions = request.conditions ?? [];
    if (conditions.length && !controlnet) throw new ArgumentError(`${op}: the request has conditions but the pipeline has no ControlNet`);

    const f = vae.downsampleFactor;
    const first = conditions[0]?.image;
    const height = request.height ?? first?.shape[2] ?? (unet.config.sampleSize ?? 8) * f;
    const width = request.width ?? first?.shape[3] ?? (unet.config.sampleSize ?? 8) * f;
    if (height % f || width % f) throw new ArgumentError(`${op}: height and width must be multiples of the VAE's factor ${f}, got ${height}x${width}`);

    const generator = new Generator(request.seed ?? SAMPLE_DEFAULTS.seed);
    const factory = findScheduler(this.models.schedulers, request.scheduler ?? this.options.defaultScheduler ?? SAMPLE_DEFAULTS.scheduler);
    const scheduler = factory.create({ ...this.options.schedulerConfig, ...this.options.schedulerOverrides?.[factory.name] });
    scheduler.setTimesteps(steps);

    return noGrad(() => {
      let x = randn([n, unet.config.inChannels, height / f, width / f], { generator }).mul(scheduler.initNoiseSigma);
      // Strength 0 means no control at all (and no condition encoding, so no draws for it).
      const controlled = !!controlnet && conditions.length > 0 && strength !== 0;
      const inputs = controlled ? conditions.map((c, i) => this.conditionInput(c, i, n, height, width, generator, op)) : [];
      const weights = conditions.map((c) => c.weight ?? 1);
      const contextC = encodePrompts(this.models.textEncoder, this.models.tokenizer, prompts, x.backend);
      const contextU = guidance === 1 ? null : encodePrompts(this.models.textEncoder, this.models.tokenizer, negative, x.backend);

      // Which condition's hook ran last: with one condition its set is put in place once, not
      // before every model call (a ctrLoRA switch copies the zero convs and norms).
      let activated = -1;
      const predict = (xin: Tensor, t: number, context: Tensor): Tensor => {
        let residuals: ControlResiduals | undefined;
        if (controlled && controlnet) {
          const per = conditions.map((c, i) => {
            if (activated !== i) c.activate?.();
            activated = i;
            const scale = { conditioningScale: strength };
            return controlnet.controlType === 'ctrloraBase' ? controlnet.forward(inputs[i]!, t, context, scale) : controlnet.forward(xin, t, context, inputs[i]!, scale);
          });
          residuals = per.length === 1 && weights[0] === 1 ? per[0]! : sumControlResiduals(per, weights);
        }
        return unet.forward(xin, t, context, residuals);
      };

      const timesteps = [...scheduler.timesteps];
      for (const t of timesteps) {
        const xin = scheduler.scaleModelInput(x, t);
        const cond = predict(xin, t, contextC);
        const eps = contextU ? (() => {
          const uncond = predict(xin, t, contextU);
          return uncond.add(cond.sub(uncond).mul(guidance));
        })() : cond;
        x = scheduler.step(eps, t, x, { generator }).prevSample;
      }
      const images = vae.decode(x.div(vae.scalingFactor)).add(1).div(2).clamp(0, 1);
      return { images, latents: x, timesteps };
    });
  }


  /** The ControlNet input of one condition, batched to n: the image (vanilla) or its scaled latent (ctrLoRA base). */
  private conditionInput(c: SampleCondition, i: number, n: number, height: number, width: number, generator: Generator, op: string): Tensor {
    const batch = (t: Tensor) => (t.shape[0] === n ? t : t.shape[0] === 1 ? concat(Array.from({ length: n }, () => t), 0) : null);
    if (c.latent) {
      const latent = batch(c.latent);
      if (!latent) throw new ShapeError(`${op}: conditions[${i}].latent has batch ${c.latent.shape[0]}, need 1 or ${n}`);
      return latent;
    }
    const img = c.image;
    if (img.ndim !== 4 || img.shape[2] !== height || img.shape[3] !== width) throw new ShapeError(`${op}: conditions[${i}].image must be [1 or ${n}, C, ${height}, ${width}], got ${fmtShape(img.shape)}`);
    const image = batch(img);
    if (!image) throw new ShapeError(`${op}: conditions[${i}].image has batch ${img.shape[0]}, need 1 or ${n}`);
    if (this.models.controlnet?.controlType !== 'ctrloraBase') return image;
    return CtrLoraBaseControlNet.encodeCondition(this.models.vae, image, { generator, range: this.options.conditionRange });
  }
}
