/** nn.Conv2d with PyTorch's default initialisation (uniform, bound 1/sqrt(in/groups * kh * kw)). */
import { ArgumentError, ShapeError, fmtShape } from '../../errors.ts';
import { conv2d, rand } from '../../ops/index.ts';
import { type Pair, pair } from '../../ops/conv.ts';
import type { Tensor } from '../../tensor.ts';
import { UnaryModule } from '../module.ts';
import { type LayerOptions, layerGenerator } from './options.ts';

export interface Conv2dLayerOptions extends LayerOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends UnaryModule {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, options: Conv2dLayerOptions = {}) {
    super();
    this.groups = options.groups ?? 1;
    if (!Number.isInteger(this.groups) || this.groups < 1 || inChannels % this.groups || outChannels % this.groups) {
      throw new ArgumentError(`Conv2d: groups ${this.groups} must divide inChannels ${inChannels} and outChannels ${outChannels}`);
    }
    this.kernelSize = pair('Conv2d', 'kernelSize', kernelSize, 1);
    this.stride = pair('Conv2d', 'stride', options.stride ?? 1, 1);
    this.padding = pair('Conv2d', 'padding', options.padding ?? 0, 0);
    this.dilation = pair('Conv2d', 'dilation', options.dilation ?? 1, 1);
    const generator = layerGenerator(options);
    const fanIn = (inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
    const bound = 1 / Math.sqrt(fanIn);
    const draw = (shape: number[]) => rand(shape, { low: -bound, high: bound, generator, backend: options.backend });
    this.weight = this.registerParameter('weight', draw([outChannels, inChannels / this.groups, ...this.kernelSize]));
    this.bias = this.registerParameter('bias', options.bias === false ? null : draw([outChannels]));
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4 || x.shape[1] !== this.inChannels) {
      throw new ShapeError(`Conv2d(${this.inChannels}, ${this.outChannels}): input must be [N, ${this.inChannels}, H, W], got ${fmtShape(x.shape)}`);
    }
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups });
  }

  protected override extraRepr(): string {
    return `${this.inChannels}, ${this.outChannels}, kernel=${this.kernelSize.join('x')}, stride=${this.stride.join('x')}, padding=${this.padding.join('x')}`;
  }
}
