/**
 * The VAE mid block's spatial self-attention (diffusers' Attention with a group norm, one
 * head over all channels, biases on q/k/v, a residual): keys group_norm, to_q, to_k, to_v,
 * to_out.0. (LDM names them norm, q, k, v, proj_out as 1x1 convs: see plugins/keymap.ts.)
 */
import { Dropout, GroupNorm, Linear, Module, ModuleList, scaledDotProductAttention, type LayerOptions, type Tensor } from '../../core/index.ts';

export class SpatialSelfAttention extends Module {
  readonly group_norm: GroupNorm;
  readonly to_q: Linear;
  readonly to_k: Linear;
  readonly to_v: Linear;
  readonly to_out: ModuleList;
  constructor(readonly channels: number, groups: number, eps: number, options: LayerOptions = {}) {
    super();
    this.group_norm = this.registerModule('group_norm', new GroupNorm(groups, channels, { eps, backend: options.backend }));
    this.to_q = this.registerModule('to_q', new Linear(channels, channels, options));
    this.to_k = this.registerModule('to_k', new Linear(channels, channels, options));
    this.to_v = this.registerModule('to_v', new Linear(channels, channels, options));
    this.to_out = this.registerModule('to_out', new ModuleList<Module>([new Linear(channels, channels, options), new Dropout(0)]));
  }
  forward(x: Tensor): Tensor {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const seq = this.group_norm.forward(x).reshape([n, c, h * w]).permute([0, 2, 1]);
    const attended = scaledDotProductAttention(this.to_q.forward(seq), this.to_k.forward(seq), this.to_v.forward(seq));
    const out = (this.to_out.at(0) as Linear).forward(attended);
    return out.permute([0, 2, 1]).reshape([n, c, h, w]).add(x);
  }
}
