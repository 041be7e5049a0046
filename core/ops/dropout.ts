/** Inverted dropout with a mask drawn from our seeded Generator (reproducible on every backend). */
import { ArgumentError } from '../errors.ts';
import type { RandomOptions } from '../random.ts';
import type { Tensor } from '../tensor.ts';
import { rand } from './creation.ts';

export interface DropoutOptions extends RandomOptions {
  /** When false (eval mode) dropout is the identity. Default true. */
  training?: boolean;
}

export function dropout(x: Tensor, p = 0.5, options: DropoutOptions = {}): Tensor {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ArgumentError(`dropout: p must be in [0, 1], got ${p}`);
  if (options.training === false || p === 0) return x;
  if (p === 1) return x.mul(0);
  const keep = rand(x.shape, { ...options, backend: x.backend }).ge(p);
  return x.mul(keep.div(1 - p));
}
