/** nn.Linear: y = x W^T + b, with PyTorch's default initialisation (uniform, bound 1/sqrt(in)). */
import { ArgumentError, ShapeError, fmtShape } from '../../errors.ts';
import { rand } from '../../ops/index.ts';
import type { Tensor } from '../../tensor.ts';
import { UnaryModule } from '../module.ts';
import { type LayerOptions, layerGenerator } from './options.ts';

export interface LinearOptions extends LayerOptions {
  bias?: boolean;
}

export class Linear extends UnaryModule {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions = {}) {
    super();
    for (const [k, v] of [['inFeatures', inFeatures], ['outFeatures', outFeatures]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new ArgumentError(`Linear: ${k} must be an integer >= 1, got ${v}`);
    }
    const generator = layerGenerator(options);
    const bound = 1 / Math.sqrt(inFeatures);
    const draw = (shape: number[]) => rand(shape, { low: -bound, high: bound, generator, backend: options.backend });
    this.weight = this.registerParameter('weight', draw([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', options.bias === false ? null : draw([outFeatures]));
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new ShapeError(`Linear(${this.inFeatures}, ${this.outFeatures}): input's last axis must be ${this.inFeatures}, got ${fmtShape(x.shape)}`);
    }
    const y = x.matmul(this.weight.mT);
    return this.bias ? y.add(this.bias) : y;
  }

  protected override extraRepr(): string {
    return `in=${this.inFeatures}, out=${this.outFeatures}, bias=${this.bias !== null}`;
  }
}
