/**
 * The UNet's stages, as diffusers builds them: CrossAttnDownBlock2D / DownBlock2D (resnets,
 * optional attentions, a stride-2 downsampler), UNetMidBlock2DCrossAttn (resnet, attention,
 * resnet) and UpBlock2D / CrossAttnUpBlock2D (resnets that take the matching skip
 * concatenated on channels, optional attentions, a 2x upsampler). One class per direction;
 * `crossAttention` chooses the diffusers block type (and so the key names present).
 */
import { Module, ModuleList, type LayerOptions, type Tensor, concat } from '../../core/index.ts';
import { Downsample2D, ResnetBlock2D, type ResnetBlockOptions, Upsample2D } from './resnet.ts';
import { Transformer2DModel } from './transformer.ts';

export interface BlockOptions extends LayerOptions {
  tembChannels: number;
  groups: number;
  eps: number;
  heads: number;
  crossAttentionDim: number;
  transformerLayers: number;
}

function layerOf(o: BlockOptions): LayerOptions {
  return { backend: o.backend, generator: o.generator, seed: o.seed };
}

function resnetOptions(o: BlockOptions): ResnetBlockOptions {
  return { ...layerOf(o), tembChannels: o.tembChannels, groups: o.groups, eps: o.eps };
}

function transformer(channels: number, o: BlockOptions): Transformer2DModel {
  return new Transformer2DModel(channels, { ...layerOf(o), heads: o.heads, crossAttentionDim: o.crossAttentionDim, groups: o.groups, layers: o.transformerLayers });
}

/** CrossAttnDownBlock2D (crossAttention) or DownBlock2D. */
export class DownBlock extends Module {
  readonly attentions: ModuleList<Transformer2DModel> | null;
  readonly resnets: ModuleList<ResnetBlock2D>;
  readonly downsamplers: ModuleList<Downsample2D> | null;
  constructor(inChannels: number, readonly outChannels: number, layers: number, readonly crossAttention: boolean, addDownsample: boolean, o: BlockOptions) {
    super();
    const res = resnetOptions(o);
    this.attentions = crossAttention ? this.registerModule('attentions', new ModuleList(Array.from({ length: layers }, () => transformer(outChannels, o)))) : null;
    this.resnets = this.registerModule('resnets', new ModuleList(Array.from({ length: layers }, (_, j) => new ResnetBlock2D(j === 0 ? inChannels : outChannels, outChannels, res))));
    this.downsamplers = addDownsample ? this.registerModule('downsamplers', new ModuleList([new Downsample2D(outChannels, 1, layerOf(o))])) : null;
  }
  override get typeName(): string {
    return this.crossAttention ? 'CrossAttnDownBlock2D' : 'DownBlock2D';
  }
  /** Returns the block output and every intermediate state the up path takes as a skip. */
  forward(x: Tensor, temb: Tensor, context: Tensor): { hidden: Tensor; skips: Tensor[] } {
    const skips: Tensor[] = [];
    let h = x;
    this.resnets.map((resnet, j) => {
      h = resnet.forward(h, temb);
      if (this.attentions) h = this.attentions.at(j).forward(h, context);
      skips.push(h);
    });
    if (this.downsamplers) {
      h = this.downsamplers.at(0).forward(h);
      skips.push(h);
    }
    return { hidden: h, skips };
  }
}

/** UNetMidBlock2DCrossAttn: resnets.0 -> attentions.0 -> resnets.1. */
export class MidBlock extends Module {
  readonly attentions: ModuleList<Transformer2DModel>;
  readonly resnets: ModuleList<ResnetBlock2D>;
  constructor(channels: number, o: BlockOptions) {
    super();
    const res = resnetOptions(o);
    this.attentions = this.registerModule('attentions', new ModuleList([transformer(channels, o)]));
    this.resnets = this.registerModule('resnets', new ModuleList([new ResnetBlock2D(channels, channels, res), new ResnetBlock2D(channels, channels, res)]));
  }
  override get typeName(): string {
    return 'UNetMidBlock2DCrossAttn';
  }
  forward(x: Tensor, temb: Tensor, context: Tensor): Tensor {
    let h = this.resnets.at(0).forward(x, temb);
    h = this.attentions.at(0).forward(h, context);
    return this.resnets.at(1).forward(h, temb);
  }
}

/**
 * CrossAttnUpBlock2D (crossAttention) or UpBlock2D. Resnet j takes the running state
 * concatenated with a skip: skip widths are `skipChannels` (outermost first in pop order).
 */
export class UpBlock extends Module {
  readonly attentions: ModuleList<Transformer2DModel> | null;
  readonly resnets: ModuleList<ResnetBlock2D>;
  readonly upsamplers: ModuleList<Upsample2D> | null;
  constructor(prevOutputChannels: number, readonly outChannels: number, skipChannels: readonly number[], readonly crossAttention: boolean, addUpsample: boolean, o: BlockOptions) {
    super();
    const res = resnetOptions(o);
    const layers = skipChannels.length;
    this.attentions = crossAttention ? this.registerModule('attentions', new ModuleList(Array.from({ length: layers }, () => transformer(outChannels, o)))) : null;
    this.resnets = this.registerModule('resnets', new ModuleList(skipChannels.map((skip, j) => new ResnetBlock2D((j === 0 ? prevOutputChannels : outChannels) + skip, outChannels, res))));
    this.upsamplers = addUpsample ? this.registerModule('upsamplers', new ModuleList([new Upsample2D(outChannels, layerOf(o))])) : null;
  }
  override get typeName(): string {
    return this.crossAttention ? 'CrossAttnUpBlock2D' : 'UpBlock2D';
  }
  /** skips: this block's skip states in the order they were made (the last is used first). */
  forward(x: Tensor, skips: readonly Tensor[], temb: Tensor, context: Tensor, upsampleSize?: readonly [number, number]): Tensor {
    const stack = [...skips];
    let h = x;
    this.resnets.map((resnet, j) => {
      h = resnet.forward(concat([h, stack.pop()!], 1), temb);
      if (this.attentions) h = this.attentions.at(j).forward(h, context);
    });
    return this.upsamplers ? this.upsamplers.at(0).forward(h, upsampleSize) : h;
  }
}
