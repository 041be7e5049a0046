/**
 * ControlNets: a trainable copy of the UNet's encoder (conv_in, time embedding, down blocks,
 * mid block) whose skip states pass through zero-initialised 1x1 convs
 * (`controlnet_down_blocks.{i}`, `controlnet_mid_block`) and are returned as residuals for
 * the UNet's `downBlockAdditionalResiduals` / `midBlockAdditionalResidual`.
 *
 * - ControlNetModel (vanilla, diffusers): h0 = conv_in(x_t) + controlnet_cond_embedding(image).
 * - CtrLoraBaseControlNet (CtrLoRA's base): no condition embedding and no x_t; the condition
 *   image's VAE latent (sampled, times scalingFactor) enters conv_in (4 -> ch0) directly.
 */
import { Conv2d, Module, ModuleList, type LayerOptions, type Tensor, ShapeError, copyInto, noGrad } from '../../core/index.ts';
import { fmtShape } from '../../core/errors.ts';
import { sameShape } from '../../core/shape.ts';
import type { Generator } from '../../core/index.ts';
import { type DownBlock, type MidBlock } from '../unet/blocks.ts';
import { type UNetConfig, type UNetPreset, resolveUNetConfig } from '../unet/config.ts';
import type { TimestepEmbedding } from '../unet/embeddings.ts';
import { type ModelBuildOptions, type UNet2DConditionModel, buildEncoderParts, checkEncoderHiddenStates, embedTimesteps, layerOptions, runDownBlocks, skipChannels } from '../unet/unet.ts';
import { ControlNetConditioningEmbedding } from './condition-embedding.ts';
import { zeroConv } from './zero-conv.ts';

/** What a ControlNet returns: pass it as the UNet's forward options. */
export interface ControlNetResiduals {
  downBlockAdditionalResiduals: Tensor[];
  midBlockAdditionalResidual: Tensor;
}

export interface ControlNetForwardOptions {
  /** Multiplies every residual (diffusers' conditioning_scale, CtrLoRA's control strength). Default 1. */
  conditioningScale?: number;
}

type ConfigArg = UNetPreset | Partial<UNetConfig> & { preset?: UNetPreset };

/** The shared part: encoder copy + zero convs. */
export abstract class ControlNetEncoder extends Module {
  readonly config: UNetConfig;
  readonly conv_in: Conv2d;
  readonly time_embedding: TimestepEmbedding;
  readonly down_blocks: ModuleList<DownBlock>;
  readonly controlnet_down_blocks: ModuleList<Conv2d>;
  readonly controlnet_mid_block: Conv2d;
  readonly mid_block: MidBlock;

  readonly controlnet_cond_embedding: ControlNetConditioningEmbedding | null;

  /** `layer` carries the one generator every initial weight is drawn from. */
  protected constructor(config: UNetConfig, layer: LayerOptions, convInChannels: number, condEmbedding: ControlNetConditioningEmbedding | null) {
    super();
    const c = (this.config = config);
    const parts = buildEncoderParts(c, layer, convInChannels);
    this.conv_in = this.registerModule('conv_in', parts.conv_in);
    this.time_embedding = this.registerModule('time_embedding', parts.time_embedding);
    // Registered here so the keys come in diffusers' order (after the time embedding).
    this.controlnet_cond_embedding = condEmbedding ? this.registerModule('controlnet_cond_embedding', condEmbedding) : null;
    this.down_blocks = this.registerModule('down_blocks', new ModuleList(parts.downs));
    this.controlnet_down_blocks = this.registerModule('controlnet_down_blocks', new ModuleList(skipChannels(c).map((ch) => zeroConv(ch, ch, layer))));
    const top = c.blockOutChannels.at(-1)!;
    this.controlnet_mid_block = this.registerModule('controlnet_mid_block', zeroConv(top, top, layer));
    this.mid_block = this.registerModule('mid_block', parts.mid());
  }

  /**
   * Copies conv_in (when the widths fit), the time embedding, down blocks and mid block from
   * a UNet of the same configuration (ControlNet's initialisation). Returns the keys copied.
   */
  copyFromUnet(unet: UNet2DConditionModel): string[] {
    const source = unet.stateDict();
    const copied: string[] = [];
    noGrad(() => {
      for (const [key, target] of this.stateDict()) {
        if (!/^(conv_in|time_embedding|down_blocks|mid_block)\./.test(key)) continue;
        const src = source.get(key);
        if (!src) throw new ShapeError(`${this.typeName}.fromUnet: the UNet has no '${key}'; the configurations differ`);
        if (!sameShape(src.shape, target.shape)) {
          throw new ShapeError(`${this.typeName}.fromUnet: '${key}' is ${fmtShape(target.shape)} here and ${fmtShape(src.shape)} in the UNet`);
        }
        copyInto(target, src);
        copied.push(key);
      }
    });
    return copied;
  }

  /** Runs the encoder from conv_in's output h0 and applies the zero convs and the scale. */
  protected residuals(h0: Tensor, timesteps: Tensor | number | readonly number[], context: Tensor, options: ControlNetForwardOptions): ControlNetResiduals {
    const n = h0.shape[0]!;
    checkEncoderHiddenStates(this.config, context, n, this.typeName);
    const temb = embedTimesteps(this.config, this.time_embedding, timesteps, n, h0.backend, this.typeName);
    const { hidden, skips } = runDownBlocks(this.down_blocks, h0, temb, context);
    const h = this.mid_block.forward(hidden, temb, context);
    const scale = options.conditioningScale ?? 1;
    const scaled = (t: Tensor) => (scale === 1 ? t : t.mul(scale));
    return {
      downBlockAdditionalResiduals: skips.map((s, i) => scaled(this.controlnet_down_blocks.at(i).forward(s))),
      midBlockAdditionalResidual: scaled(this.controlnet_mid_block.forward(h)),
    };
  }
}

export interface ControlNetOptions extends ModelBuildOptions {
  /** Channels of the condition image (default 3). */
  conditioningChannels?: number;
  /** Widths of the condition embedding stack (default SD1.5's [16, 32, 96, 256]). */
  conditioningEmbeddingChannels?: readonly number[];
}

/** diffusers' ControlNetModel. */
export class ControlNetModel extends ControlNetEncoder {
  declare readonly controlnet_cond_embedding: ControlNetConditioningEmbedding;
  /** Tells the two ControlNet kinds apart behind TOKENS.ControlNet (they take different inputs). */
  readonly controlType = 'vanilla' as const;

  constructor(config: ConfigArg = 'tiny', options: ControlNetOptions = {}) {
    const c = resolveUNetConfig(config);
    const layer = layerOptions(options);
    const embedding = new ControlNetConditioningEmbedding(options.conditioningChannels ?? 3, options.conditioningEmbeddingChannels ?? [16, 32, 96, 256], c.blockOutChannels[0]!, layer);
    super(c, layer, c.inChannels, embedding);
  }

  /** A ControlNet initialised from `unet` (same config; condition embedding and zero convs fresh). */
  static fromUnet(unet: UNet2DConditionModel, options: ControlNetOptions = {}): ControlNetModel {
    const cn = new ControlNetModel(unet.config, { ...options, backend: options.backend ?? unet.conv_in.weight.backend });
    cn.copyFromUnet(unet);
    return cn;
  }

  /**
   * sample (x_t) [N, in, h, w]; condition image [N, conditioningChannels, 8h, 8w] (for the
   * default 4-level embedding stack: side = latent side * 2^(levels-1)).
   */
  forward(sample: Tensor, timesteps: Tensor | number | readonly number[], encoderHiddenStates: Tensor, controlnetCond: Tensor, options: ControlNetForwardOptions = {}): ControlNetResiduals {
    const h = this.conv_in.forward(sample);
    const cond = this.controlnet_cond_embedding.forward(controlnetCond);
    if (!sameShape(cond.shape, h.shape)) {
      throw new ShapeError(`ControlNetModel: the condition embeds to ${fmtShape(cond.shape)} but conv_in(sample) is ${fmtShape(h.shape)}; the condition image must be ${2 ** (this.controlnet_cond_embedding.blocks.length / 2)}x the latent side`);
    }
    return this.residuals(h.add(cond), timesteps, encoderHiddenStates, options);
  }
}

/** How condition pixels (in [0, 1]) are fed to the VAE for the base ControlNet. */
export type ConditionRange = 'zeroOne' | 'minusOneOne';

/** What the base ControlNet needs from a VAE (AutoencoderKL fits). */
export interface LatentEncoder {
  readonly scalingFactor: number;
  encode(x: Tensor): { sample(generator?: Generator): Tensor; mode(): Tensor };
}

export interface EncodeConditionOptions {
  /**
   * 'zeroOne' (default): the condition's [0, 1] pixels go to the VAE as they are, as CtrLoRA's
   * released code does (its targets use [-1, 1]); 'minusOneOne' maps them to [-1, 1] first.
   */
  range?: ConditionRange;
  /** Sample the posterior (CtrLoRA) or take its mean. Default 'sample'. */
  posterior?: 'sample' | 'mode';
  generator?: Generator;
}

/**
 * Pixels (already in the range the VAE is to see) through a frozen VAE: the posterior sample
 * (or its mean) times scalingFactor, without gradient. Targets and conditions both use it.
 */
export function vaeLatents(vae: LatentEncoder, pixels: Tensor, options: Pick<EncodeConditionOptions, 'posterior' | 'generator'> = {}): Tensor {
  return noGrad(() => {
    const posterior = vae.encode(pixels);
    const z = (options.posterior ?? 'sample') === 'sample' ? posterior.sample(options.generator) : posterior.mode();
    return z.mul(vae.scalingFactor).detach();
  });
}

/** CtrLoRA's base ControlNet: forward(condition latent, t, context) -> residuals; never sees x_t. */
export class CtrLoraBaseControlNet extends ControlNetEncoder {
  /** Tells the two ControlNet kinds apart behind TOKENS.ControlNet (they take different inputs). */
  readonly controlType = 'ctrloraBase' as const;
  constructor(config: ConfigArg = 'tiny', options: ModelBuildOptions & { latentChannels?: number } = {}) {
    const c = resolveUNetConfig(config);
    super(c, layerOptions(options), options.latentChannels ?? c.inChannels, null);
  }

  /** A base ControlNet initialised from `unet` (conv_in included: CtrLoRA initialises it from the UNet's). */
  static fromUnet(unet: UNet2DConditionModel, options: ModelBuildOptions = {}): CtrLoraBaseControlNet {
    const cn = new CtrLoraBaseControlNet(unet.config, { ...options, backend: options.backend ?? unet.conv_in.weight.backend });
    cn.copyFromUnet(unet);
    return cn;
  }

  /**
   * Condition images [N, C, H, W] in [0, 1] -> scaled latents [N, 4, H/8, W/8] through a
   * frozen VAE (no gradient).
   */
  static encodeCondition(vae: LatentEncoder, images: Tensor, options: EncodeConditionOptions = {}): Tensor {
    return noGrad(() => vaeLatents(vae, (options.range ?? 'zeroOne') === 'zeroOne' ? images : images.mul(2).sub(1), options));
  }

  /** condLatent [N, latentChannels, h, w] (already scaled by the VAE's scalingFactor). */
  forward(condLatent: Tensor, timesteps: Tensor | number | readonly number[], encoderHiddenStates: Tensor, options: ControlNetForwardOptions = {}): ControlNetResiduals {
    if (condLatent.ndim !== 4 || condLatent.shape[1] !== this.conv_in.inChannels) {
      throw new ShapeError(`CtrLoraBaseControlNet: condLatent must be [N, ${this.conv_in.inChannels}, h, w], got ${fmtShape(condLatent.shape)}`);
    }
    return this.residuals(this.conv_in.forward(condLatent), timesteps, encoderHiddenStates, options);
  }
}

/**
 * Sums the residuals of several conditions (each from its own pass through a ControlNet),
 * weighted: `weights` per condition (default 1 each, as CtrLoRA's app), or 'mean' for 1/N.
 */
export function sumControlResiduals(perCondition: readonly ControlNetResiduals[], weights: readonly number[] | 'mean' = perCondition.map(() => 1)): ControlNetResiduals {
  if (perCondition.length === 0) throw new ShapeError('sumControlResiduals: no conditions given');
  const w = weights === 'mean' ? perCondition.map(() => 1 / perCondition.length) : weights;
  if (w.length !== perCondition.length) throw new ShapeError(`sumControlResiduals: ${w.length} weights for ${perCondition.length} conditions`);
  const count = perCondition[0]!.downBlockAdditionalResiduals.length;
  for (const [i, r] of perCondition.entries()) {
    if (r.downBlockAdditionalResiduals.length !== count) throw new ShapeError(`sumControlResiduals: condition ${i} has ${r.downBlockAdditionalResiduals.length} down residuals, condition 0 has ${count}`);
  }
  const combine = (pick: (r: ControlNetResiduals) => Tensor) => perCondition.map((r, i) => pick(r).mul(w[i]!)).reduce((a, b) => a.add(b));
  return {
    downBlockAdditionalResiduals: Array.from({ length: count }, (_, k) => combine((r) => r.downBlockAdditionalResiduals[k]!)),
    midBlockAdditionalResidual: combine((r) => r.midBlockAdditionalResidual),
  };
}
