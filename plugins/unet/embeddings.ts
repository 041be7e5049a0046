/**
 * Timestep embeddings as diffusers computes them (`get_timestep_embedding`, `Timesteps`,
 * `TimestepEmbedding`): sinusoids of the timestep at geometric frequencies, then an MLP.
 */
import { Linear, Module, SiLU, type LayerOptions, type Tensor, tensor, ArgumentError, type Backend } from '../../core/index.ts';

export interface SinusoidOptions {
  /** [cos, sin] instead of [sin, cos] (SD1.5: true). */
  flipSinToCos?: boolean;
  /** Shift of the frequency denominator: half - shift (SD1.5 UNet: 0). */
  downscaleFreqShift?: number;
  scale?: number;
  maxPeriod?: number;
}

/**
 * [N] timesteps -> [N, dim] sinusoidal features. Computed on the host in float64 (the
 * timesteps carry no gradient) and uploaded to `backend`.
 */
export function timestepSinusoids(timesteps: readonly number[], dim: number, backend: Backend, options: SinusoidOptions = {}): Tensor {
  if (!Number.isInteger(dim) || dim < 2) throw new ArgumentError(`timestepSinusoids: dim must be an integer >= 2, got ${dim}`);
  const { flipSinToCos = true, downscaleFreqShift = 0, scale = 1, maxPeriod = 10000 } = options;
  const half = Math.floor(dim / 2);
  const out = new Float64Array(timesteps.length * dim);
  timesteps.forEach((t, n) => {
    for (let i = 0; i < half; i++) {
      const freq = Math.exp((-Math.log(maxPeriod) * i) / (half - downscaleFreqShift));
      const arg = scale * t * freq;
      const [first, second] = flipSinToCos ? [Math.cos(arg), Math.sin(arg)] : [Math.sin(arg), Math.cos(arg)];
      out[n * dim + i] = first;
      out[n * dim + half + i] = second;
    }
    // An odd dim gets a zero last column, as diffusers pads it.
  });
  return tensor(out, [timesteps.length, dim], { backend });
}

/** diffusers' TimestepEmbedding: linear_1 -> SiLU -> linear_2. */
export class TimestepEmbedding extends Module {
  readonly linear_1: Linear;
  readonly act: SiLU;
  readonly linear_2: Linear;
  constructor(inChannels: number, timeEmbedDim: number, options: LayerOptions = {}) {
    super();
    this.linear_1 = this.registerModule('linear_1', new Linear(inChannels, timeEmbedDim, options));
    this.act = this.registerModule('act', new SiLU());
    this.linear_2 = this.registerModule('linear_2', new Linear(timeEmbedDim, timeEmbedDim, options));
  }
  forward(x: Tensor): Tensor {
    return this.linear_2.forward(this.act.forward(this.linear_1.forward(x)));
  }
}

/** Timesteps as a plain list, one per batch item (a scalar or [1] broadcasts to the batch). */
export function timestepList(timesteps: Tensor | number | readonly number[], batch: number, who: string): number[] {
  const values = typeof timesteps === 'number' ? [timesteps] : Array.isArray(timesteps) ? [...(timesteps as readonly number[])] : Array.from((timesteps as Tensor).toArray());
  if (values.length === 1 && batch > 1) return Array.from({ length: batch }, () => values[0]!);
  if (values.length !== batch) throw new ArgumentError(`${who}: got ${values.length} timesteps for a batch of ${batch}`);
  return values;
}
