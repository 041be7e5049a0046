import { ArgumentError } from './errors.ts';

/**
 * A seeded pseudo-random generator of our own (sfc32, seeded through splitmix32), so that
 * noise, dropout masks and initialisations are the same on every run, machine and backend:
 * random tensors are always drawn here, on the host, and uploaded. Its state can be saved
 * and restored, which is what makes a resumed training run continue the same noise stream.
 */
export class Generator {
  private s = new Uint32Array(4);
  /** A second normal from Box-Muller, kept so that normals come in a fixed, seed-only order. */
  private spare: number | null = null;

  constructor(seed: number = 0) {
    this.manualSeed(seed);
  }

  manualSeed(seed: number): this {
    if (!Number.isFinite(seed) || !Number.isInteger(seed)) {
      throw new ArgumentError(`Generator.manualSeed: seed must be a finite integer, got ${seed}`);
    }
    // splitmix32 over the low and high 32-bit halves of the seed.
    let x = (seed >>> 0) ^ Math.floor(seed / 2 ** 32) * 0x9e3779b9;
    const next = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (let i = 0; i < 4; i++) this.s[i] = next();
    this.spare = null;
    for (let i = 0; i < 12; i++) this.nextUint32(); // mix the state before first use
    return this;
  }

  nextUint32(): number {
    const s = this.s;
    const t = (((s[0]! + s[1]!) | 0) + s[3]!) | 0;
    s[3] = (s[3]! + 1) | 0;
    s[0] = s[1]! ^ (s[1]! >>> 9);
    s[1] = (s[2]! + (s[2]! << 3)) | 0;
    s[2] = (s[2]! << 21) | (s[2]! >>> 11);
    s[2] = (s[2]! + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1) with 24 bits, so the value is exact in float32 and never rounds to 1. */
  uniform(): number {
    return (this.nextUint32() >>> 8) * 2 ** -24;
  }

  /** Standard normal (Box-Muller on two 24-bit uniforms). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u1 = 1 - this.uniform(); // (0, 1]: log stays finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** Integer uniform in [low, high). */
  int(low: number, high: number): number {
    if (!(high > low)) throw new ArgumentError(`Generator.int: empty range [${low}, ${high})`);
    const range = high - low;
    if (range <= 2 ** 24) return low + Math.floor(this.uniform() * range);
    // A 24-bit uniform reaches only every (range / 2^24)-th integer of a wider range: use 53 bits.
    const u = ((this.nextUint32() >>> 5) * 2 ** 26 + (this.nextUint32() >>> 6)) * 2 ** -53;
    return low + Math.floor(u * range);
  }

  getState(): GeneratorState {
    return { s: Array.from(this.s), spare: this.spare };
  }

  setState(state: GeneratorState): this {
    if (!state || !Array.isArray(state.s) || state.s.length !== 4) {
      throw new ArgumentError('Generator.setState: expected an object saved by getState()');
    }
    this.s = Uint32Array.from(state.s);
    this.spare = state.spare;
    return this;
  }
}

export interface GeneratorState {
  s: number[];
  spare: number | null;
}

/** The process-wide generator used when an op is given neither `generator` nor `seed`. */
export const defaultGenerator = new Generator(0);

/** Like torch.manual_seed: reseeds the default generator. */
export function manualSeed(seed: number): void {
  defaultGenerator.manualSeed(seed);
}

export interface RandomOptions {
  generator?: Generator;
  seed?: number;
}

export function pickGenerator(opts: RandomOptions | undefined): Generator {
  if (opts?.generator) return opts.generator;
  if (opts?.seed !== undefined) return new Generator(opts.seed);
  return defaultGenerator;
}
