/** Tensor factories. Random ones draw on the host from our seeded Generator, then upload. */
import type { Backend } from '../backend.ts';
import { getDefaultBackend } from '../backends/default.ts';
import { ArgumentError, DtypeError, fmtShape } from '../errors.ts';
import { type RandomOptions, pickGenerator } from '../random.ts';
import { type Shape, checkShape, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { checkFinite, wrap } from './util.ts';

export interface CreateOptions {
  backend?: Backend;
  requiresGrad?: boolean;
}

function make(values: ArrayLike<number>, shape: Shape, opts: CreateOptions | undefined): Tensor {
  const backend = opts?.backend ?? getDefaultBackend();
  const t = wrap(backend.upload(values), shape);
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

export type NestedArray = number | readonly NestedArray[];
type TypedArray = Float32Array | Float64Array | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array;

/**
 * A tensor from nested arrays or a typed array (with a shape). Values are converted to
 * float32; integers beyond 2^24 lose precision, as they would in torch.float32.
 */
export function tensor(data: NestedArray | TypedArray | readonly number[], shapeOrOpts?: Shape | CreateOptions, maybeOpts?: CreateOptions): Tensor {
  const shapeArg = Array.isArray(shapeOrOpts) ? (shapeOrOpts as Shape) : undefined;
  const opts = Array.isArray(shapeOrOpts) ? maybeOpts : (shapeOrOpts as CreateOptions | undefined);
  if (ArrayBuffer.isView(data)) {
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
      throw new DtypeError('tensor: 64-bit integer arrays are not supported (convert to Float32Array or Int32Array)');
    }
    if (data instanceof DataView) throw new DtypeError('tensor: a DataView has no element type; pass a typed array');
    const values = data as TypedArray;
    const shape = shapeArg ? checkShape(shapeArg, 'tensor') : [values.length];
    if (sizeOf(shape) !== values.length) {
      throw new ArgumentError(`tensor: shape ${fmtShape(shape)} holds ${sizeOf(shape)} values, but the array has ${values.length}`);
    }
    return make(values, shape, opts);
  }
  const { values, shape } = flattenNested(data as NestedArray);
  if (shapeArg) {
    const s = checkShape(shapeArg, 'tensor');
    if (sizeOf(s) !== values.length) {
      throw new ArgumentError(`tensor: shape ${fmtShape(s)} holds ${sizeOf(s)} values, but the data has ${values.length}`);
    }
    return make(values, s, opts);
  }
  return make(values, shape, opts);
}

function flattenNested(data: NestedArray): { values: number[]; shape: number[] } {
  const shape: number[] = [];
  for (let level: NestedArray = data; Array.isArray(level); level = (level as readonly NestedArray[])[0]!) {
    shape.push((level as readonly NestedArray[]).length);
    if ((level as readonly NestedArray[]).length === 0) break;
  }
  const values: number[] = [];
  const walk = (x: NestedArray, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof x !== 'number') {
        throw new DtypeError(`tensor: element ${path || '(root)'} is ${Array.isArray(x) ? 'an array' : typeof x}, expected a number`);
      }
      values.push(x);
      return;
    }
    if (!Array.isArray(x) || x.length !== shape[depth]) {
      throw new DtypeError(`tensor: ragged nesting at ${path || '(root)'}: expected an array of length ${shape[depth]}`);
    }
    (x as readonly NestedArray[]).forEach((v, i) => walk(v, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  return { values, shape };
}

export function full(shape: Shape, value: number, opts?: CreateOptions): Tensor {
  const s = checkShape(shape, 'full');
  if (typeof value !== 'number') throw new DtypeError(`full: value must be a number, got ${typeof value}`);
  const backend = opts?.backend ?? getDefaultBackend();
  const t = wrap(backend.fill(sizeOf(s), value), s);
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

export const zeros = (shape: Shape, opts?: CreateOptions): Tensor => full(shape, 0, opts);
export const ones = (shape: Shape, opts?: CreateOptions): Tensor => full(shape, 1, opts);

/** Values start, start+step, ... below end (torch.arange). arange(n) = 0..n-1. */
export function arange(start: number, end?: number, step = 1, opts?: CreateOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  for (const [k, v] of [['start', start], ['end', end], ['step', step]] as const) {
    if (!Number.isFinite(v)) throw new ArgumentError(`arange: ${k} must be finite, got ${v}`);
  }
  if (step === 0) throw new ArgumentError('arange: step must not be 0');
  const n = Math.max(0, Math.ceil((end - start) / step));
  return make(Array.from({ length: n }, (_, i) => start + i * step), [n], opts);
}

/**
 * `steps` values evenly spaced from start to end, both included (torch.linspace). Like torch,
 * the first half steps up from start and the second half down from end, so both ends are exact.
 */
export function linspace(start: number, end: number, steps: number, opts?: CreateOptions): Tensor {
  checkFinite('linspace', 'start', start);
  checkFinite('linspace', 'end', end);
  if (!Number.isInteger(steps) || steps < 0) throw new ArgumentError(`linspace: steps must be an integer >= 0, got ${steps}`);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  const half = Math.floor(steps / 2);
  if (steps === 1) return make([start], [1], opts);
  return make(Array.from({ length: steps }, (_, i) => (i < half ? start + i * step : end - (steps - 1 - i) * step)), [steps], opts);
}

/** An n x m matrix with ones on the diagonal (torch.eye; m defaults to n). */
export function eye(n: number, m: number = n, opts?: CreateOptions): Tensor {
  for (const [k, v] of [['n', n], ['m', m]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new ArgumentError(`eye: ${k} must be an integer >= 0, got ${v}`);
  }
  const values = new Float32Array(n * m);
  for (let i = 0; i < Math.min(n, m); i++) values[i * m + i] = 1;
  return make(values, [n, m], opts);
}

export type RandOptions = CreateOptions & RandomOptions;

/** Uniform in [low, high). */
export function rand(shape: Shape, opts?: RandOptions & { low?: number; high?: number }): Tensor {
  const s = checkShape(shape, 'rand');
  const low = opts?.low ?? 0;
  const high = opts?.high ?? 1;
  if (!Number.isFinite(low) || !Number.isFinite(high) || high < low) {
    throw new ArgumentError(`rand: need finite low <= high, got low=${low}, high=${high}`);
  }
  const gen = pickGenerator(opts);
  const values = new Float64Array(sizeOf(s));
  for (let i = 0; i < values.length; i++) values[i] = low + (high - low) * gen.uniform();
  return make(values, s, opts);
}

/** Normal with the given mean and std (default standard normal). */
export function randn(shape: Shape, opts?: RandOptions & { mean?: number; std?: number }): Tensor {
  const s = checkShape(shape, 'randn');
  const mean = opts?.mean ?? 0;
  const std = opts?.std ?? 1;
  if (!Number.isFinite(mean) || !Number.isFinite(std) || std < 0) {
    throw new ArgumentError(`randn: need a finite mean and a finite std >= 0, got mean=${mean}, std=${std}`);
  }
  const gen = pickGenerator(opts);
  const values = new Float64Array(sizeOf(s));
  for (let i = 0; i < values.length; i++) values[i] = mean + std * gen.normal();
  return make(values, s, opts);
}

/** Integers uniform in [low, high), stored as float32 (e.g. timesteps, token ids). */
export function randint(low: number, high: number, shape: Shape, opts?: RandOptions): Tensor {
  const s = checkShape(shape, 'randint');
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new ArgumentError(`randint: need integers low < high, got low=${low}, high=${high}`);
  }
  const gen = pickGenerator(opts);
  const values = new Float64Array(sizeOf(s));
  for (let i = 0; i < values.length; i++) values[i] = gen.int(low, high);
  return make(values, s, opts);
}
