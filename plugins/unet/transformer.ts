/**
 * diffusers' Transformer2DModel as SD1.5 uses it: GroupNorm (eps 1e-6), 1x1-conv proj_in,
 * BasicTransformerBlocks (self-attention, cross-attention to the text context, GEGLU
 * feed-forward, each pre-LayerNorm with a residual), 1x1-conv proj_out, and a residual
 * around the whole. Key names: norm, proj_in, transformer_blocks.{i}.{norm1, attn1, norm2,
 * attn2, norm3, ff.net.0.proj, ff.net.2}, proj_out.
 */
import { Conv2d, Dropout, GroupNorm, LayerNorm, Linear, Module, ModuleList, MultiheadAttention, type LayerOptions, type Tensor, chunk } from '../../core/index.ts';

/** GEGLU: proj(x) split in two halves along the last axis: hidden * gelu(gate). */
export class GEGLU extends Module {
  readonly proj: Linear;
  constructor(dimIn: number, readonly dimOut: number, options: LayerOptions = {}) {
    super();
    this.proj = this.registerModule('proj', new Linear(dimIn, dimOut * 2, options));
  }
  forward(x: Tensor): Tensor {
    const [hidden, gate] = chunk(this.proj.forward(x), 2, -1) as [Tensor, Tensor];
    return hidden.mul(gate.gelu('none'));
  }
}

/** FeedForward with GEGLU: net.0 (GEGLU), net.1 (dropout), net.2 (Linear inner -> dim). */
export class FeedForward extends Module {
  readonly net: ModuleList;
  constructor(dim: number, mult = 4, dropout = 0, options: LayerOptions = {}) {
    super();
    const inner = dim * mult;
    this.net = this.registerModule('net', new ModuleList<Module>([new GEGLU(dim, inner, options), new Dropout(dropout, options), new Linear(inner, dim, options)]));
  }
  forward(x: Tensor): Tensor {
    const geglu = this.net.at(0) as GEGLU;
    const drop = this.net.at(1) as Dropout;
    const out = this.net.at(2) as Linear;
    return out.forward(drop.forward(geglu.forward(x)));
  }
}

export class BasicTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn1: MultiheadAttention;
  readonly norm2: LayerNorm;
  readonly attn2: MultiheadAttention;
  readonly norm3: LayerNorm;
  readonly ff: FeedForward;
  constructor(dim: number, heads: number, crossAttentionDim: number, options: LayerOptions = {}) {
    super();
    const ln = () => new LayerNorm(dim, { eps: 1e-5, backend: options.backend });
    this.norm1 = this.registerModule('norm1', ln());
    this.attn1 = this.registerModule('attn1', new MultiheadAttention(dim, heads, { ...options, qkvBias: false }));
    this.norm2 = this.registerModule('norm2', ln());
    this.attn2 = this.registerModule('attn2', new MultiheadAttention(dim, heads, { ...options, contextDim: crossAttentionDim, qkvBias: false }));
    this.norm3 = this.registerModule('norm3', ln());
    this.ff = this.registerModule('ff', new FeedForward(dim, 4, 0, options));
  }
  /** x [N, L, dim]; context [N, Lc, crossAttentionDim]. */
  forward(x: Tensor, context: Tensor): Tensor {
    let h = this.attn1.forward(this.norm1.forward(x)).add(x);
    h = this.attn2.forward(this.norm2.forward(h), context).add(h);
    return this.ff.forward(this.norm3.forward(h)).add(h);
  }
}

export interface Transformer2DOptions extends LayerOptions {
  heads: number;
  crossAttentionDim: number;
  groups: number;
  layers?: number;
}

export class Transformer2DModel extends Module {
  readonly norm: GroupNorm;
  readonly proj_in: Conv2d;
  readonly transformer_blocks: ModuleList<BasicTransformerBlock>;
  readonly proj_out: Conv2d;
  constructor(readonly channels: number, options: Transformer2DOptions) {
    super();
    const layer = { backend: options.backend, generator: options.generator, seed: options.seed };
    this.norm = this.registerModule('norm', new GroupNorm(options.groups, channels, { eps: 1e-6, backend: options.backend }));
    this.proj_in = this.registerModule('proj_in', new Conv2d(channels, channels, 1, layer));
    const blocks = Array.from({ length: options.layers ?? 1 }, () => new BasicTransformerBlock(channels, options.heads, options.crossAttentionDim, layer));
    this.transformer_blocks = this.registerModule('transformer_blocks', new ModuleList(blocks));
    this.proj_out = this.registerModule('proj_out', new Conv2d(channels, channels, 1, layer));
  }
  /** x [N, C, H, W]; context [N, L, crossAttentionDim]. */
  forward(x: Tensor, context: Tensor): Tensor {
    const [n, c, hh, ww] = x.shape as [number, number, number, number];
    let h = this.proj_in.forward(this.norm.forward(x));
    h = h.permute([0, 2, 3, 1]).reshape([n, hh * ww, c]);
    for (const block of this.transformer_blocks) h = block.forward(h, context);
    h = h.reshape([n, hh, ww, c]).permute([0, 3, 1, 2]);
    return this.proj_out.forward(h).add(x);
  }
}
