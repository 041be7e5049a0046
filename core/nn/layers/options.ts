/** Options every layer with parameters takes: where they live and which random stream draws them. */
import type { Backend } from '../../backend.ts';
import { getDefaultBackend } from '../../backends/default.ts';
import { full, rand, randn } from '../../ops/index.ts';
import { type Generator, type RandomOptions, pickGenerator } from '../../random.ts';
import type { Tensor } from '../../tensor.ts';
import { isMetaBackend } from '../meta.ts';

export interface LayerOptions extends RandomOptions {
  /** The backend the parameters are created on (default: the default backend). */
  backend?: Backend;
}

/** One generator for all of a layer's draws (a `seed` must not restart between weight and bias). */
export function layerGenerator(opts: LayerOptions | undefined): Generator {
  return pickGenerator(opts);
}

/**
 * An initial parameter uniform in [-bound, bound). On the shape-only (meta) backend nothing
 * is drawn (building SD1.5 must not draw 859 M numbers just to count them).
 */
export function initUniform(shape: readonly number[], bound: number, generator: Generator, backend?: Backend): Tensor {
  const b = backend ?? getDefaultBackend();
  if (isMetaBackend(b)) return full(shape, 0, { backend: b });
  return rand(shape, { low: -bound, high: bound, generator, backend: b });
}

/** An initial parameter N(0, std^2); nothing drawn on the meta backend. */
export function initNormal(shape: readonly number[], std: number, generator: Generator, backend?: Backend): Tensor {
  const b = backend ?? getDefaultBackend();
  if (isMetaBackend(b)) return full(shape, 0, { backend: b });
  return randn(shape, { std, generator, backend: b });
}
