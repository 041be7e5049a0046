/** Parameter-free layers: activations, dropout and identity. */
import { dropout } from '../../ops/index.ts';
import { ArgumentError } from '../../errors.ts';
import { type Generator, type RandomOptions, pickGenerator } from '../../random.ts';
import type { Tensor } from '../../tensor.ts';
import { UnaryModule } from '../module.ts';

export class SiLU extends UnaryModule {
  forward(x: Tensor): Tensor {
    return x.silu();
  }
}

export class GELU extends UnaryModule {
  constructor(readonly approximate: 'none' | 'tanh' = 'none') {
    super();
  }
  forward(x: Tensor): Tensor {
    return x.gelu(this.approximate);
  }
  protected override extraRepr(): string {
    return `approximate=${this.approximate}`;
  }
}

export class ReLU extends UnaryModule {
  forward(x: Tensor): Tensor {
    return x.relu();
  }
}

export class Identity extends UnaryModule {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** Inverted dropout in training mode, the identity in eval mode; masks come from its own seeded stream. */
export class Dropout extends UnaryModule {
  readonly generator: Generator;
  constructor(readonly p = 0.5, options: RandomOptions = {}) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ArgumentError(`Dropout: p must be in [0, 1], got ${p}`);
    this.generator = pickGenerator(options);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training, generator: this.generator });
  }
  protected override extraRepr(): string {
    return `p=${this.p}`;
  }
}
