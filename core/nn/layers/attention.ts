/**
 * Multi-head attention, self or cross, with an optional mask. Parameter names follow
 * diffusers' Attention (`to_q`, `to_k`, `to_v`, `to_out.0`), so transformer blocks built from
 * it load diffusers/PyTorch state dicts key for key. Each projection is an nn.Linear with
 * PyTorch's default initialisation.
 */
import { ArgumentError, ShapeError, fmtShape } from '../../errors.ts';
import type { Tensor } from '../../tensor.ts';
import { scaledDotProductAttention } from '../functional.ts';
import { Module } from '../module.ts';
import { Dropout } from './activation.ts';
import { ModuleList } from './containers.ts';
import { Linear } from './linear.ts';
import { type LayerOptions, layerGenerator } from './options.ts';

export interface MultiheadAttentionOptions extends LayerOptions {
  /** Width of the context for cross-attention (default: embedDim, i.e. self-attention). */
  contextDim?: number;
  /** Bias on the q/k/v projections (diffusers default false). */
  qkvBias?: boolean;
  /** Bias on the output projection (default true). */
  outBias?: boolean;
  /** Dropout after the output projection (training mode only). */
  dropout?: number;
}

export interface AttentionForwardOptions {
  /** Broadcastable to [B, heads, Lq, Lk]: nonzero = attend. A [B, Lk] padding mask reshapes to [B, 1, 1, Lk]. */
  mask?: Tensor | null;
}

export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly contextDim: number;
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly to_out: ModuleList;

  constructor(readonly embedDim: number, readonly numHeads: number, options: MultiheadAttentionOptions = {}) {
    super();
    if (!Number.isInteger(numHeads) || numHeads < 1 || embedDim % numHeads !== 0) {
      throw new ArgumentError(`MultiheadAttention: numHeads ${numHeads} must divide embedDim ${embedDim}`);
    }
    this.headDim = embedDim / numHeads;
    this.contextDim = options.contextDim ?? embedDim;
    const generator = layerGenerator(options);
    const lin = (i: number, o: number, bias: boolean) => new Linear(i, o, { bias, generator, backend: options.backend });
    const qkvBias = options.qkvBias ?? false;
    this.to_q = this.registerModule('to_q', lin(embedDim, embedDim, qkvBias));
    this.to_k = this.registerModule('to_k', lin(this.contextDim, embedDim, qkvBias));
    this.to_v = this.registerModule('to_v', lin(this.contextDim, embedDim, qkvBias));
    this.to_out = this.registerModule('to_out', new ModuleList<Module>([lin(embedDim, embedDim, options.outBias ?? true), new Dropout(options.dropout ?? 0, { generator })]));
  }

  /** x [B, Lq, embedDim]; context [B, Lk, contextDim] for cross-attention (default x). */
  forward(x: Tensor, context?: Tensor | null, options: AttentionForwardOptions = {}): Tensor {
    const ctx = context ?? x;
    if (x.ndim !== 3 || x.shape[2] !== this.embedDim) {
      throw new ShapeError(`MultiheadAttention: x must be [B, L, ${this.embedDim}], got ${fmtShape(x.shape)}`);
    }
    if (ctx.ndim !== 3 || ctx.shape[2] !== this.contextDim || ctx.shape[0] !== x.shape[0]) {
      throw new ShapeError(`MultiheadAttention: context must be [${x.shape[0]}, L, ${this.contextDim}], got ${fmtShape(ctx.shape)}`);
    }
    const [B, Lq] = x.shape as [number, number];
    const Lk = ctx.shape[1]!;
    const heads = (t: Tensor, L: number) => t.reshape([B, L, this.numHeads, this.headDim]).permute([0, 2, 1, 3]);
    const q = heads(this.to_q.forward(x), Lq);
    const k = heads(this.to_k.forward(ctx), Lk);
    const v = heads(this.to_v.forward(ctx), Lk);
    const attended = scaledDotProductAttention(q, k, v, { mask: options.mask ?? null });
    const merged = attended.permute([0, 2, 1, 3]).reshape([B, Lq, this.embedDim]);
    const proj = this.to_out.at(0) as Linear;
    const drop = this.to_out.at(1) as Dropout;
    return drop.forward(proj.forward(merged));
  }

  protected override extraRepr(): string {
    return `embedDim=${this.embedDim}, heads=${this.numHeads}, contextDim=${this.contextDim}`;
  }
}
