/**
 * diffusers' ResnetBlock2D, Downsample2D and Upsample2D (key names norm1, conv1,
 * time_emb_proj, norm2, conv2, conv_shortcut; downsamplers.0.conv; upsamplers.0.conv).
 * Shared by the UNet, the ControlNets and the VAE (which has no time embedding).
 */
import { Conv2d, Dropout, GroupNorm, Linear, Module, type LayerOptions, type Tensor, ShapeError, pad, upsampleNearest2d } from '../../core/index.ts';
import { fmtShape } from '../../core/errors.ts';

export interface ResnetBlockOptions extends LayerOptions {
  /** Width of the time embedding; null: no time_emb_proj (the VAE's blocks). */
  tembChannels: number | null;
  groups: number;
  eps: number;
  dropout?: number;
  outputScaleFactor?: number;
}

export class ResnetBlock2D extends Module {
  readonly norm1: GroupNorm;
  readonly conv1: Conv2d;
  readonly time_emb_proj: Linear | null;
  readonly norm2: GroupNorm;
  readonly dropout: Dropout;
  readonly conv2: Conv2d;
  readonly conv_shortcut: Conv2d | null;
  private readonly outputScaleFactor: number;

  constructor(readonly inChannels: number, readonly outChannels: number, options: ResnetBlockOptions) {
    super();
    const { groups, eps } = options;
    const layer = { backend: options.backend, generator: options.generator, seed: options.seed };
    this.norm1 = this.registerModule('norm1', new GroupNorm(groups, inChannels, { eps, backend: options.backend }));
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, outChannels, 3, { ...layer, padding: 1 }));
    this.time_emb_proj = options.tembChannels === null ? null : this.registerModule('time_emb_proj', new Linear(options.tembChannels, outChannels, layer));
    this.norm2 = this.registerModule('norm2', new GroupNorm(groups, outChannels, { eps, backend: options.backend }));
    this.dropout = this.registerModule('dropout', new Dropout(options.dropout ?? 0, layer));
    this.conv2 = this.registerModule('conv2', new Conv2d(outChannels, outChannels, 3, { ...layer, padding: 1 }));
    this.conv_shortcut = inChannels === outChannels ? null : this.registerModule('conv_shortcut', new Conv2d(inChannels, outChannels, 1, layer));
    this.outputScaleFactor = options.outputScaleFactor ?? 1;
  }

  /** x [N, in, H, W]; temb [N, tembChannels] (required when the block has time_emb_proj). */
  forward(x: Tensor, temb: Tensor | null = null): Tensor {
    let h = this.conv1.forward(this.norm1.forward(x).silu());
    if (this.time_emb_proj) {
      if (!temb) throw new ShapeError('ResnetBlock2D: this block has a time embedding projection; pass temb');
      const [n, c] = [temb.shape[0]!, this.outChannels];
      h = h.add(this.time_emb_proj.forward(temb.silu()).reshape([n, c, 1, 1]));
    }
    h = this.conv2.forward(this.dropout.forward(this.norm2.forward(h).silu()));
    const skip = this.conv_shortcut ? this.conv_shortcut.forward(x) : x;
    const out = skip.add(h);
    return this.outputScaleFactor === 1 ? out : out.div(this.outputScaleFactor);
  }
}

/**
 * A 3x3 stride-2 conv. padding 1 in the UNet; the VAE uses padding 0 after an asymmetric
 * (0, 1, 0, 1) pad, as diffusers' Downsample2D with padding=0 does.
 */
export class Downsample2D extends Module {
  readonly conv: Conv2d;
  constructor(channels: number, readonly padding: 0 | 1, options: LayerOptions = {}) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(channels, channels, 3, { ...options, stride: 2, padding }));
  }
  forward(x: Tensor): Tensor {
    return this.conv.forward(this.padding === 0 ? pad(x, [0, 1, 0, 1]) : x);
  }
}

/** Nearest 2x upsampling then a 3x3 conv (an explicit size when a skip connection is odd-sized). */
export class Upsample2D extends Module {
  readonly conv: Conv2d;
  constructor(channels: number, options: LayerOptions = {}) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(channels, channels, 3, { ...options, padding: 1 }));
  }
  forward(x: Tensor, size?: readonly [number, number]): Tensor {
    let up = upsampleNearest2d(x, 2);
    if (size && (size[0] !== up.shape[2] || size[1] !== up.shape[3])) {
      if (size[0] > up.shape[2]! || size[1] > up.shape[3]!) throw new ShapeError(`Upsample2D: cannot reach ${fmtShape(size)} from ${fmtShape(x.shape)} by 2x upsampling`);
      up = up.slice(2, 0, size[0]).slice(3, 0, size[1]);
    }
    return this.conv.forward(up);
  }
}
