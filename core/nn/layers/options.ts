/** Options every layer with parameters takes: where they live and which random stream draws them. */
import type { Backend } from '../../backend.ts';
import { type Generator, type RandomOptions, pickGenerator } from '../../random.ts';

export interface LayerOptions extends RandomOptions {
  /** The backend the parameters are created on (default: the default backend). */
  backend?: Backend;
}

/** One generator for all of a layer's draws (a `seed` must not restart between weight and bias). */
export function layerGenerator(opts: LayerOptions | undefined): Generator {
  return pickGenerator(opts);
}
