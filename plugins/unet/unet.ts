/**
 * UNet2DConditionModel (diffusers), the denoiser of Stable Diffusion: predicts the noise in
 * a latent given the timestep and the text context. State-dict keys are diffusers' own, so
 * an SD1.5 `unet/diffusion_pytorch_model.safetensors` loads with loadStateDict.
 *
 * ControlNet entry points: `downBlockAdditionalResiduals` (one per skip state: conv_in's
 * output and every resnet/downsampler output, 12 for SD1.5) are added to the skips, and
 * `midBlockAdditionalResidual` to the mid block's output, as in diffusers.
 */
import { Conv2d, Generator, GroupNorm, Module, ModuleList, type Backend, type LayerOptions, type Tensor, ShapeError, getDefaultBackend } from '../../core/index.ts';
import { fmtShape } from '../../core/errors.ts';
import { sameShape } from '../../core/shape.ts';
import { DownBlock, MidBlock, UpBlock, type BlockOptions } from './blocks.ts';
import { type UNetConfig, type UNetPreset, headsAt, resolveUNetConfig } from './config.ts';
import { TimestepEmbedding, timestepList, timestepSinusoids } from './embeddings.ts';

export interface UNetForwardOptions {
  downBlockAdditionalResiduals?: readonly Tensor[] | null;
  midBlockAdditionalResidual?: Tensor | null;
}

export interface ModelBuildOptions {
  /** Where the parameters live (default: the default backend; `shapeOnly` for counting). */
  backend?: Backend;
  /** Seed of the initial weights (default 0). */
  seed?: number;
  generator?: Generator;
}

/** The encoder half (conv_in, time embedding, down blocks, mid block) the UNet and ControlNets share. */
export function buildEncoderParts(config: UNetConfig, options: LayerOptions, inChannels = config.inChannels) {
  const ch0 = config.blockOutChannels[0]!;
  const tembChannels = ch0 * 4;
  const layer = { backend: options.backend, generator: options.generator };
  const blockOptions = (i: number): BlockOptions => ({ ...layer, tembChannels, groups: config.normNumGroups, eps: config.normEps, heads: headsAt(config, i), crossAttentionDim: config.crossAttentionDim, transformerLayers: config.transformerLayersPerBlock });
  const conv_in = new Conv2d(inChannels, ch0, 3, { ...layer, padding: 1 });
  const time_embedding = new TimestepEmbedding(ch0, tembChannels, layer);
  const downs: DownBlock[] = [];
  let prev = ch0;
  config.blockOutChannels.forEach((out, i) => {
    const last = i === config.blockOutChannels.length - 1;
    downs.push(new DownBlock(prev, out, config.layersPerBlock, config.downBlockTypes[i] === 'CrossAttnDownBlock2D', !last, blockOptions(i)));
    prev = out;
  });
  const mid = () => new MidBlock(config.blockOutChannels.at(-1)!, blockOptions(config.blockOutChannels.length - 1));
  return { conv_in, time_embedding, downs, mid, blockOptions, tembChannels };
}

/** Widths of the skip states the down path produces, in order (conv_in's first). */
export function skipChannels(config: UNetConfig): number[] {
  const out = [config.blockOutChannels[0]!];
  config.blockOutChannels.forEach((ch, i) => {
    for (let j = 0; j < config.layersPerBlock; j++) out.push(ch);
    if (i < config.blockOutChannels.length - 1) out.push(ch);
  });
  return out;
}

/** The time embedding [N, 4 * ch0] of timesteps (one per batch item, or one for all): sinusoids, then the MLP. */
export function embedTimesteps(config: UNetConfig, timeEmbedding: TimestepEmbedding, timesteps: Tensor | number | readonly number[], batch: number, backend: Backend, who: string): Tensor {
  const ts = timestepList(timesteps, batch, who);
  return timeEmbedding.forward(timestepSinusoids(ts, config.blockOutChannels[0]!, backend, { flipSinToCos: config.flipSinToCos, downscaleFreqShift: config.freqShift }));
}

/** The text context must be [n, L, crossAttentionDim]. */
export function checkEncoderHiddenStates(config: UNetConfig, context: Tensor, n: number, who: string): void {
  if (context.ndim !== 3 || context.shape[0] !== n || context.shape[2] !== config.crossAttentionDim) {
    throw new ShapeError(`${who}: encoderHiddenStates must be [${n}, L, ${config.crossAttentionDim}], got ${fmtShape(context.shape)}`);
  }
}

/** The down path from conv_in's output h0: the last hidden state and every skip state (h0 first). */
export function runDownBlocks(blocks: Iterable<DownBlock>, h0: Tensor, temb: Tensor, context: Tensor): { hidden: Tensor; skips: Tensor[] } {
  let hidden = h0;
  const skips: Tensor[] = [h0];
  for (const block of blocks) {
    const r = block.forward(hidden, temb, context);
    hidden = r.hidden;
    skips.push(...r.skips);
  }
  return { hidden, skips };
}

export function layerOptions(options: ModelBuildOptions): LayerOptions {
  return { backend: options.backend ?? getDefaultBackend(), generator: options.generator ?? new Generator(options.seed ?? 0) };
}

export class UNet2DConditionModel extends Module {
  readonly config: UNetConfig;
  readonly conv_in: Conv2d;
  readonly time_embedding: TimestepEmbedding;
  readonly down_blocks: ModuleList<DownBlock>;
  readonly up_blocks: ModuleList<UpBlock>;
  readonly mid_block: MidBlock;
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;

  constructor(config: UNetPreset | Partial<UNetConfig> & { preset?: UNetPreset } = 'tiny', options: ModelBuildOptions = {}) {
    super();
    const c = (this.config = resolveUNetConfig(config));
    const layer = layerOptions(options);
    const parts = buildEncoderParts(c, layer);
    this.conv_in = this.registerModule('conv_in', parts.conv_in);
    this.time_embedding = this.registerModule('time_embedding', parts.time_embedding);
    this.down_blocks = this.registerModule('down_blocks', new ModuleList(parts.downs));
    // Up path: block i mirrors down block n-1-i and takes layersPerBlock+1 skips.
    const skips = skipChannels(c);
    const reversed = [...c.blockOutChannels].reverse();
    const ups: UpBlock[] = [];
    let prevOut = reversed[0]!;
    reversed.forEach((out, i) => {
      const take = skips.splice(skips.length - (c.layersPerBlock + 1), c.layersPerBlock + 1).reverse();
      const last = i === reversed.length - 1;
      ups.push(new UpBlock(prevOut, out, take, c.upBlockTypes[i] === 'CrossAttnUpBlock2D', !last, parts.blockOptions(reversed.length - 1 - i)));
      prevOut = out;
    });
    this.up_blocks = this.registerModule('up_blocks', new ModuleList(ups));
    this.mid_block = this.registerModule('mid_block', parts.mid());
    this.conv_norm_out = this.registerModule('conv_norm_out', new GroupNorm(c.normNumGroups, c.blockOutChannels[0]!, { eps: c.normEps, backend: layer.backend }));
    this.conv_out = this.registerModule('conv_out', new Conv2d(c.blockOutChannels[0]!, c.outChannels, 3, { ...layer, padding: 1 }));
  }

  /** The time embedding [N, 4 * ch0] of timesteps (one per batch item, or one for all). */
  embedTime(timesteps: Tensor | number | readonly number[], batch: number, backend: Backend): Tensor {
    return embedTimesteps(this.config, this.time_embedding, timesteps, batch, backend, this.typeName);
  }

  /**
   * sample [N, inChannels, H, W] (H, W divisible by 2^(levels-1) for exact skips), timesteps
   * [N] (or one), encoderHiddenStates [N, L, crossAttentionDim] -> [N, outChannels, H, W].
   */
  forward(sample: Tensor, timesteps: Tensor | number | readonly number[], encoderHiddenStates: Tensor, options: UNetForwardOptions = {}): Tensor {
    if (sample.ndim !== 4 || sample.shape[1] !== this.config.inChannels) {
      throw new ShapeError(`UNet2DConditionModel: sample must be [N, ${this.config.inChannels}, H, W], got ${fmtShape(sample.shape)}`);
    }
    const n = sample.shape[0]!;
    checkEncoderHiddenStates(this.config, encoderHiddenStates, n, this.typeName);
    const temb = this.embedTime(timesteps, n, sample.backend);
    const down = runDownBlocks(this.down_blocks, this.conv_in.forward(sample), temb, encoderHiddenStates);
    let h = down.hidden;
    let skips = down.skips;
    const extra = options.downBlockAdditionalResiduals;
    if (extra) {
      if (extra.length !== skips.length) throw new ShapeError(`UNet2DConditionModel: downBlockAdditionalResiduals has ${extra.length} tensors, the down path makes ${skips.length}`);
      skips = skips.map((s, i) => {
        if (!sameShape(extra[i]!.shape, s.shape)) throw new ShapeError(`UNet2DConditionModel: downBlockAdditionalResiduals[${i}] is ${fmtShape(extra[i]!.shape)}, the skip is ${fmtShape(s.shape)}`);
        return s.add(extra[i]!);
      });
    }
    h = this.mid_block.forward(h, temb, encoderHiddenStates);
    const mid = options.midBlockAdditionalResidual;
    if (mid) {
      // add() broadcasts: a wrong-sized residual must not pass silently
      if (!sameShape(mid.shape, h.shape)) throw new ShapeError(`UNet2DConditionModel: midBlockAdditionalResidual is ${fmtShape(mid.shape)}, the mid block's output is ${fmtShape(h.shape)}`);
      h = h.add(mid);
    }
    const per = this.config.layersPerBlock + 1;
    this.up_blocks.map((block, i) => {
      const mine = skips.splice(skips.length - per, per);
      const last = i === this.up_blocks.length - 1;
      const next = skips.at(-1);
      const size = !last && next ? ([next.shape[2]!, next.shape[3]!] as const) : undefined;
      h = block.forward(h, mine, temb, encoderHiddenStates, size);
    });
    return this.conv_out.forward(this.conv_norm_out.forward(h).silu());
  }
}
