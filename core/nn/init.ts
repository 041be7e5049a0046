/**
 * In-place initialisers with PyTorch's formulas (torch.nn.init), drawing from our seeded
 * Generator. Each replaces the values of a parameter and returns it, so they compose with
 * Module.apply: `model.apply((m) => { if (m instanceof Linear) init.zeros_(m.bias!) })`.
 */
import { full, rand, randn } from '../ops/index.ts';
import { ArgumentError, fmtShape } from '../errors.ts';
import type { RandomOptions } from '../random.ts';
import { sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { replaceStorage } from './parameter.ts';

/** fan_in and fan_out as torch computes them: dims 0 and 1 times the receptive field size. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new ArgumentError(`init: fan in and fan out need at least 2 dimensions, got ${fmtShape(shape)}`);
  const receptive = sizeOf(shape.slice(2));
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

/** torch.nn.init.calculate_gain. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv2d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': { const a = param ?? 0.01; return Math.sqrt(2 / (1 + a * a)); }
    case 'selu': return 3 / 4;
  }
}

/** Gives t the storage of `fresh`, a new dense tensor made on t's backend for it: no copy, nothing left allocated. */
function adopt(t: Tensor, fresh: Tensor): Tensor {
  replaceStorage(t, fresh.storage);
  return t;
}

export function uniform_(t: Tensor, low = 0, high = 1, opts?: RandomOptions): Tensor {
  return adopt(t, rand(t.shape, { ...opts, low, high, backend: t.backend }));
}
export function normal_(t: Tensor, mean = 0, std = 1, opts?: RandomOptions): Tensor {
  return adopt(t, randn(t.shape, { ...opts, mean, std, backend: t.backend }));
}
export function constant_(t: Tensor, value: number): Tensor {
  return adopt(t, full(t.shape, value, { backend: t.backend }));
}
export const zeros_ = (t: Tensor): Tensor => constant_(t, 0);
export const ones_ = (t: Tensor): Tensor => constant_(t, 1);

export interface KaimingOptions extends RandomOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
}

/** The bound of torch's kaiming_uniform_ (nn.Linear and nn.Conv2d use a = sqrt(5): bound 1/sqrt(fan_in)). */
export function kaimingUniformBound(shape: readonly number[], options: KaimingOptions = {}): number {
  const { fanIn, fanOut } = fans(shape);
  const fan = (options.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const gain = calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0);
  return gain * Math.sqrt(3 / fan);
}

export function kaimingUniform_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const bound = kaimingUniformBound(t.shape, options);
  return uniform_(t, -bound, bound, options);
}

export function kaimingNormal_(t: Tensor, options: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const fan = (options.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const std = calculateGain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0) / Math.sqrt(fan);
  return normal_(t, 0, std, options);
}

export function xavierUniform_(t: Tensor, gain = 1, opts?: RandomOptions): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound, opts);
}

export function xavierNormal_(t: Tensor, gain = 1, opts?: RandomOptions): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), opts);
}
