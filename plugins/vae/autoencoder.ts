/**
 * AutoencoderKL (diffusers): images [N, 3, H, W] in [-1, 1] <-> latents [N, 4, H/f, W/f],
 * f = 2^(levels-1) (8 for SD1.5). Keys: encoder.{conv_in, down_blocks.{i}.resnets.{j},
 * down_blocks.{i}.downsamplers.0.conv, mid_block.{resnets.0, attentions.0, resnets.1},
 * conv_norm_out, conv_out}, quant_conv, post_quant_conv, decoder.{conv_in, mid_block,
 * up_blocks.{i}.resnets.{j}, up_blocks.{i}.upsamplers.0.conv, conv_norm_out, conv_out}.
 */
import { Conv2d, GroupNorm, Module, ModuleList, type LayerOptions, type Tensor, ShapeError, l1Loss, mseLoss, type Generator } from '../../core/index.ts';
import { fmtShape } from '../../core/errors.ts';
import { Downsample2D, ResnetBlock2D, Upsample2D } from '../unet/resnet.ts';
import { type ModelBuildOptions, layerOptions } from '../unet/unet.ts';
import { SpatialSelfAttention } from './attention.ts';
import { type VaeConfig, type VaePreset, resolveVaeConfig } from './config.ts';
import { DiagonalGaussianDistribution } from './distribution.ts';

function resnet(inCh: number, outCh: number, c: VaeConfig, layer: LayerOptions): ResnetBlock2D {
  return new ResnetBlock2D(inCh, outCh, { ...layer, tembChannels: null, groups: c.normNumGroups, eps: c.normEps });
}

/** UNetMidBlock2D without time embedding: resnets.0 -> attentions.0 -> resnets.1. */
export class VaeMidBlock extends Module {
  readonly attentions: ModuleList<SpatialSelfAttention>;
  readonly resnets: ModuleList<ResnetBlock2D>;
  constructor(channels: number, c: VaeConfig, layer: LayerOptions) {
    super();
    this.attentions = this.registerModule('attentions', new ModuleList([new SpatialSelfAttention(channels, c.normNumGroups, c.normEps, layer)]));
    this.resnets = this.registerModule('resnets', new ModuleList([resnet(channels, channels, c, layer), resnet(channels, channels, c, layer)]));
  }
  forward(x: Tensor): Tensor {
    return this.resnets.at(1).forward(this.attentions.at(0).forward(this.resnets.at(0).forward(x)));
  }
}

/** DownEncoderBlock2D / UpDecoderBlock2D: resnets then an optional resampler. */
export class VaeLevel extends Module {
  readonly resnets: ModuleList<ResnetBlock2D>;
  readonly downsamplers: ModuleList<Downsample2D> | null = null;
  readonly upsamplers: ModuleList<Upsample2D> | null = null;
  constructor(inCh: number, outCh: number, layers: number, resample: 'down' | 'up' | null, c: VaeConfig, layer: LayerOptions) {
    super();
    this.resnets = this.registerModule('resnets', new ModuleList(Array.from({ length: layers }, (_, j) => resnet(j === 0 ? inCh : outCh, outCh, c, layer))));
    if (resample === 'down') this.downsamplers = this.registerModule('downsamplers', new ModuleList([new Downsample2D(outCh, 0, layer)]));
    if (resample === 'up') this.upsamplers = this.registerModule('upsamplers', new ModuleList([new Upsample2D(outCh, layer)]));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const r of this.resnets) h = r.forward(h);
    if (this.downsamplers) h = this.downsamplers.at(0).forward(h);
    if (this.upsamplers) h = this.upsamplers.at(0).forward(h);
    return h;
  }
}

export class Encoder extends Module {
  readonly conv_in: Conv2d;
  readonly down_blocks: ModuleList<VaeLevel>;
  readonly mid_block: VaeMidBlock;
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  constructor(c: VaeConfig, layer: LayerOptions) {
    super();
    const widths = c.blockOutChannels;
    this.conv_in = this.registerModule('conv_in', new Conv2d(c.inChannels, widths[0]!, 3, { ...layer, padding: 1 }));
    this.down_blocks = this.registerModule('down_blocks', new ModuleList(widths.map((w, i) => new VaeLevel(i === 0 ? widths[0]! : widths[i - 1]!, w, c.layersPerBlock, i < widths.length - 1 ? 'down' : null, c, layer))));
    const top = widths.at(-1)!;
    this.mid_block = this.registerModule('mid_block', new VaeMidBlock(top, c, layer));
    this.conv_norm_out = this.registerModule('conv_norm_out', new GroupNorm(c.normNumGroups, top, { eps: c.normEps, backend: layer.backend }));
    this.conv_out = this.registerModule('conv_out', new Conv2d(top, 2 * c.latentChannels, 3, { ...layer, padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    let h = this.conv_in.forward(x);
    for (const b of this.down_blocks) h = b.forward(h);
    h = this.mid_block.forward(h);
    return this.conv_out.forward(this.conv_norm_out.forward(h).silu());
  }
}

export class Decoder extends Module {
  readonly conv_in: Conv2d;
  readonly up_blocks: ModuleList<VaeLevel>;
  readonly mid_block: VaeMidBlock;
  readonly conv_norm_out: GroupNorm;
  readonly conv_out: Conv2d;
  constructor(c: VaeConfig, layer: LayerOptions) {
    super();
    const widths = [...c.blockOutChannels].reverse();
    const top = widths[0]!;
    this.conv_in = this.registerModule('conv_in', new Conv2d(c.latentChannels, top, 3, { ...layer, padding: 1 }));
    this.up_blocks = this.registerModule('up_blocks', new ModuleList(widths.map((w, i) => new VaeLevel(i === 0 ? top : widths[i - 1]!, w, c.layersPerBlock + 1, i < widths.length - 1 ? 'up' : null, c, layer))));
    this.mid_block = this.registerModule('mid_block', new VaeMidBlock(top, c, layer));
    this.conv_norm_out = this.registerModule('conv_norm_out', new GroupNorm(c.normNumGroups, widths.at(-1)!, { eps: c.normEps, backend: layer.backend }));
    this.conv_out = this.registerModule('conv_out', new Conv2d(widths.at(-1)!, c.outChannels, 3, { ...layer, padding: 1 }));
  }
  forward(z: Tensor): Tensor {
    let h = this.mid_block.forward(this.conv_in.forward(z));
    for (const b of this.up_blocks) h = b.forward(h);
    return this.conv_out.forward(this.conv_norm_out.forward(h).silu());
  }
}

export interface VaeLossOptions {
  /** Weight of the KL term (LDM's SD VAE used 1e-6). Default 1e-6. */
  klWeight?: number;
  /** Reconstruction distance: 'mse' (default) or 'l1'. */
  reconstruction?: 'mse' | 'l1';
  /** Noise for the posterior sample (seeded training). */
  generator?: Generator;
}

export interface VaeLoss {
  loss: Tensor;
  reconstruction: Tensor;
  kl: Tensor;
  decoded: Tensor;
}

export class AutoencoderKL extends Module {
  readonly config: VaeConfig;
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quant_conv: Conv2d;
  readonly post_quant_conv: Conv2d;

  constructor(config: VaePreset | Partial<VaeConfig> & { preset?: VaePreset } = 'tiny', options: ModelBuildOptions = {}) {
    super();
    const c = (this.config = resolveVaeConfig(config));
    const layer = layerOptions(options);
    this.encoder = this.registerModule('encoder', new Encoder(c, layer));
    this.decoder = this.registerModule('decoder', new Decoder(c, layer));
    this.quant_conv = this.registerModule('quant_conv', new Conv2d(2 * c.latentChannels, 2 * c.latentChannels, 1, layer));
    this.post_quant_conv = this.registerModule('post_quant_conv', new Conv2d(c.latentChannels, c.latentChannels, 1, layer));
  }

  get scalingFactor(): number {
    return this.config.scalingFactor;
  }
  /** Side of the image per latent pixel. */
  get downsampleFactor(): number {
    return 2 ** (this.config.blockOutChannels.length - 1);
  }

  /** images [N, inChannels, H, W] (H, W divisible by the downsampling factor) -> posterior. */
  encode(x: Tensor): DiagonalGaussianDistribution {
    const f = this.downsampleFactor;
    if (x.ndim !== 4 || x.shape[1] !== this.config.inChannels || x.shape[2]! % f || x.shape[3]! % f) {
      throw new ShapeError(`AutoencoderKL.encode: images must be [N, ${this.config.inChannels}, H, W] with H and W multiples of ${f}, got ${fmtShape(x.shape)}`);
    }
    return new DiagonalGaussianDistribution(this.quant_conv.forward(this.encoder.forward(x)));
  }

  /** latents [N, latentChannels, h, w] (unscaled: divide diffusion latents by scalingFactor first). */
  decode(z: Tensor): Tensor {
    if (z.ndim !== 4 || z.shape[1] !== this.config.latentChannels) {
      throw new ShapeError(`AutoencoderKL.decode: latents must be [N, ${this.config.latentChannels}, h, w], got ${fmtShape(z.shape)}`);
    }
    return this.decoder.forward(this.post_quant_conv.forward(z));
  }

  /** Reconstruction through a posterior sample (or the mean when `sample` is false). */
  forward(x: Tensor, options: { sample?: boolean; generator?: Generator } = {}): Tensor {
    const posterior = this.encode(x);
    return this.decode(options.sample ? posterior.sample(options.generator) : posterior.mode());
  }

  /**
   * Training loss: reconstruction (mean over elements) + klWeight * KL (summed per image,
   * averaged over the batch), reconstructing through a posterior sample.
   */
  loss(x: Tensor, options: VaeLossOptions = {}): VaeLoss {
    const posterior = this.encode(x);
    const decoded = this.decode(posterior.sample(options.generator));
    const reconstruction = (options.reconstruction ?? 'mse') === 'mse' ? mseLoss(decoded, x) : l1Loss(decoded, x);
    const kl = posterior.kl().mean();
    return { loss: reconstruction.add(kl.mul(options.klWeight ?? 1e-6)), reconstruction, kl, decoded };
  }
}
