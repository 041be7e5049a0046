/** nn.GroupNorm and nn.LayerNorm: affine weight 1 and bias 0 at start, as in PyTorch. */
import { ArgumentError, ShapeError, fmtShape } from '../../errors.ts';
import { full, groupNorm, layerNorm } from '../../ops/index.ts';
import type { Tensor } from '../../tensor.ts';
import { UnaryModule } from '../module.ts';
import type { LayerOptions } from './options.ts';

export interface GroupNormOptions extends Pick<LayerOptions, 'backend'> {
  eps?: number;
  affine?: boolean;
}

export class GroupNorm extends UnaryModule {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(readonly numGroups: number, readonly numChannels: number, options: GroupNormOptions = {}) {
    super();
    if (!Number.isInteger(numGroups) || numGroups < 1 || numChannels % numGroups !== 0) {
      throw new ArgumentError(`GroupNorm: numGroups ${numGroups} must divide numChannels ${numChannels}`);
    }
    this.eps = options.eps ?? 1e-5;
    const affine = options.affine ?? true;
    this.weight = this.registerParameter('weight', affine ? full([numChannels], 1, { backend: options.backend }) : null);
    this.bias = this.registerParameter('bias', affine ? full([numChannels], 0, { backend: options.backend }) : null);
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) {
      throw new ShapeError(`GroupNorm(${this.numGroups}, ${this.numChannels}): input must be [N, ${this.numChannels}, ...], got ${fmtShape(x.shape)}`);
    }
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }

  protected override extraRepr(): string {
    return `${this.numGroups}, ${this.numChannels}, eps=${this.eps}`;
  }
}

export interface LayerNormOptions extends Pick<LayerOptions, 'backend'> {
  eps?: number;
  elementwiseAffine?: boolean;
  bias?: boolean;
}

export class LayerNorm extends UnaryModule {
  readonly normalizedShape: readonly number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (this.normalizedShape.length === 0 || this.normalizedShape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new ArgumentError(`LayerNorm: normalizedShape must be positive integers, got ${JSON.stringify(normalizedShape)}`);
    }
    this.eps = options.eps ?? 1e-5;
    const affine = options.elementwiseAffine ?? true;
    this.weight = this.registerParameter('weight', affine ? full(this.normalizedShape, 1, { backend: options.backend }) : null);
    this.bias = this.registerParameter('bias', affine && options.bias !== false ? full(this.normalizedShape, 0, { backend: options.backend }) : null);
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }

  protected override extraRepr(): string {
    return `${fmtShape(this.normalizedShape)}, eps=${this.eps}`;
  }
}
