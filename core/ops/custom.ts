/**
 * Custom ops: an op defined outside core/ registers, by name, a forward kernel per backend
 * family and a gradient rule, and runs through the same tape as the built-in ops (the model
 * is tfjs-core's kernel and gradient registries). Built-in ops never pass through here: they
 * call their Backend methods directly, so they keep their speed.
 *
 * Backend families and the kernel each takes:
 * - `reference` and `native`: a HostKernel, a TypeScript function over the inputs' values
 *   (row-major Float32Array, or Float64Array on the float64 reference backend) that fills
 *   `out`. Both backends keep their values on the host, so no copy is read back.
 * - `gpujs`: a GpuJsKernel, which returns a gpu.js kernel source (one output value per
 *   `this.thread.x`, loop bounds from `this.constants`) compiled and cached by the backend.
 * - any other family (a backend of your own, named `family` or `family:...`): a
 *   StorageKernel from input storages to an output storage.
 * A backend with no kernel for the op is an error naming both, unless the op was defined
 * with `hostFallback: true`: then its reference kernel runs on values read back from the
 * device and the result is uploaded (one readback per call, slow on a GPU).
 */
import { attach, type GradRule } from '../autograd.ts';
import type { Backend, Storage } from '../backend.ts';
import { ReferenceBackend } from '../backends/reference.ts';
import { ArgumentError, TensorError } from '../errors.ts';
import { type Shape, checkShape, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { backendOf, dense, wrap } from './util.ts';

export type HostArray = Float32Array | Float64Array;

/** What every kernel is told about a call: shapes, attributes, the output's shape. */
export interface KernelCall<A> {
  readonly shapes: readonly Shape[];
  readonly attrs: A;
  readonly outShape: Shape;
}

export interface HostKernelArgs<A> extends KernelCall<A> {
  /** Each input's values, contiguous and row-major. Read only. */
  readonly inputs: readonly HostArray[];
  /** The output's values (zeros on entry), row-major; Float64Array when the inputs are. */
  readonly out: HostArray;
}
/** A kernel over host values: the `reference` and `native` families. */
export type HostKernel<A> = (args: HostKernelArgs<A>) => void;

export interface GpuJsKernelSource {
  /**
   * A gpu.js kernel: a `function (a, b, ...) { ... }` expression or its source text. Its
   * parameters are the inputs (flat arrays) in order, then `scalars`; it returns the output
   * value at the flat index `this.thread.x`. Bound every loop by `this.constants`: gpu.js
   * silently caps a loop bounded by an argument at 1000 iterations.
   */
  readonly source: string | ((...args: never[]) => number);
  /** Compile-time numbers (`this.constants.NAME`); a new value compiles a new kernel. */
  readonly constants?: Readonly<Record<string, number>>;
  /** Numbers passed as trailing arguments: values that change per call without recompiling. */
  readonly scalars?: readonly number[];
}
/** A kernel for the `gpujs` family: the gpu.js source to run for one call. */
export type GpuJsKernel<A> = (call: KernelCall<A>) => GpuJsKernelSource;

export interface StorageKernelArgs<A> extends KernelCall<A> {
  readonly backend: Backend;
  /** Each input's storage, contiguous and row-major. */
  readonly inputs: readonly Storage[];
}
/** A kernel for any other backend family: storages in, a new contiguous storage out. */
export type StorageKernel<A> = (args: StorageKernelArgs<A>) => Storage;

export type AnyKernel<A> = HostKernel<A> | GpuJsKernel<A> | StorageKernel<A>;

/** What a gradient rule is given besides the output's gradient. */
export interface GradContext<A> {
  readonly inputs: readonly Tensor[];
  readonly output: Tensor;
  readonly attrs: A;
}
/** One gradient (or null) per input, each of that input's shape; runs under noGrad. */
export type CustomGradRule<A> = (gy: Tensor, ctx: GradContext<A>) => readonly (Tensor | null)[];

export interface OpDefinition<A> {
  /** The op's name: the registry key, and the name errors and the tape use. */
  readonly name: string;
  /** How many tensor inputs the op takes (checked on every call); any number when absent. */
  readonly arity?: number;
  /** The output's shape from the inputs' shapes (and checks on them); default: input 0's shape. */
  readonly outputShape?: (shapes: readonly Shape[], attrs: A) => Shape;
  readonly kernels?: {
    readonly reference?: HostKernel<A>;
    readonly native?: HostKernel<A>;
    readonly gpujs?: GpuJsKernel<A>;
  };
  /** The gradient rule; it may also be registered later with registerGradient. */
  readonly grad?: CustomGradRule<A>;
  /** The output carries no gradient (an index, a comparison): nothing is recorded on the tape. */
  readonly nonDifferentiable?: boolean;
  /** Run the reference kernel through read/upload on a backend that has no kernel of its own. */
  readonly hostFallback?: boolean;
}

export interface RegisterOptions {
  /** Replace an existing registration of the same name instead of failing. */
  readonly override?: boolean;
}

interface OpEntry {
  def: OpDefinition<unknown>;
  kernels: Map<string, AnyKernel<unknown>>;
  grad: CustomGradRule<unknown> | null;
}

const registry = new Map<string, OpEntry>();

/** A custom op, called like a function: `softplusOp([x], { beta: 1 })`. */
export type CustomOp<A> = (inputs: readonly Tensor[], attrs: A) => Tensor;

/**
 * Registers an op with its kernels and gradient, and returns the function that runs it.
 * Defining a name twice is an error unless `{ override: true }`.
 */
export function defineOp<A = Record<string, never>>(def: OpDefinition<A>, options: RegisterOptions = {}): CustomOp<A> {
  if (typeof def?.name !== 'string' || def.name.trim() === '') throw new ArgumentError('defineOp: an op needs a non-empty name');
  if (registry.has(def.name) && !options.override) {
    throw new ArgumentError(`defineOp: an op named '${def.name}' is already registered (pass { override: true } to replace it)`);
  }
  const entry: OpEntry = { def: def as OpDefinition<unknown>, kernels: new Map(), grad: (def.grad as CustomGradRule<unknown>) ?? null };
  for (const [family, kernel] of Object.entries(def.kernels ?? {})) {
    if (kernel !== undefined) entry.kernels.set(family, checkKernel(def.name, family, kernel as AnyKernel<unknown>));
  }
  registry.set(def.name, entry);
  return (inputs, attrs) => runOp(def.name, inputs, attrs);
}

/** Adds (or with `override`, replaces) the kernel of a registered op for one backend family. */
export function registerKernel<A>(opName: string, family: 'reference' | 'native', kernel: HostKernel<A>, options?: RegisterOptions): void;
export function registerKernel<A>(opName: string, family: 'gpujs', kernel: GpuJsKernel<A>, options?: RegisterOptions): void;
export function registerKernel<A>(opName: string, family: string, kernel: StorageKernel<A>, options?: RegisterOptions): void;
export function registerKernel<A>(opName: string, family: string, kernel: AnyKernel<A>, options: RegisterOptions = {}): void {
  const entry = lookup(opName, 'registerKernel');
  if (typeof family !== 'string' || family === '') throw new ArgumentError(`registerKernel: '${opName}': the backend family must be a non-empty string`);
  if (entry.kernels.has(family) && !options.override) {
    throw new ArgumentError(`registerKernel: op '${opName}' already has a '${family}' kernel (pass { override: true } to replace it)`);
  }
  entry.kernels.set(family, checkKernel(opName, family, kernel as AnyKernel<unknown>));
}

/** Sets (or with `override`, replaces) the gradient rule of a registered op. */
export function registerGradient<A>(opName: string, grad: CustomGradRule<A>, options: RegisterOptions = {}): void {
  const entry = lookup(opName, 'registerGradient');
  if (typeof grad !== 'function') throw new ArgumentError(`registerGradient: the gradient of '${opName}' must be a function`);
  if (entry.def.nonDifferentiable) throw new ArgumentError(`registerGradient: op '${opName}' was defined nonDifferentiable`);
  if (entry.grad && !options.override) {
    throw new ArgumentError(`registerGradient: op '${opName}' already has a gradient (pass { override: true } to replace it)`);
  }
  entry.grad = grad as CustomGradRule<unknown>;
}

/** Removes an op and its kernels (a plugin being unloaded, a test cleaning up). */
export function unregisterOp(opName: string): boolean {
  return registry.delete(opName);
}

/** The registered op names, and for each the backend families it has kernels for. */
export function listOps(): { name: string; families: string[]; hasGradient: boolean }[] {
  return [...registry.entries()].map(([name, e]) => ({ name, families: [...e.kernels.keys()], hasGradient: e.grad !== null }));
}

/**
 * The family a backend's kernels are registered under: its name before any ':' or '+'
 * ('gpujs:webasm+threads' -> gpujs, 'native', 'mine:v2' -> mine); both reference precisions are 'reference'.
 */
export function backendFamily(backend: Backend): string {
  return backend.name === 'reference-f64' ? 'reference' : backend.name.split(/[:+]/)[0]!;
}

/** Runs a registered op by name (tfjs's runKernel): dispatch, the forward kernel, the tape. */
export function runOp<A>(opName: string, inputs: readonly Tensor[], attrs: A): Tensor {
  const entry = lookup(opName, 'runOp');
  const def = entry.def;
  if (!Array.isArray(inputs)) throw new ArgumentError(`${opName}: inputs must be an array of tensors`);
  if (def.arity !== undefined && inputs.length !== def.arity) {
    throw new ArgumentError(`${opName}: takes ${def.arity} input tensor(s), got ${inputs.length}`);
  }
  const backend = backendOf(opName, ...inputs);
  const shapes = inputs.map((t) => t.shape);
  const outShape = checkShape(def.outputShape ? def.outputShape(shapes, attrs) : (shapes[0] ?? []), opName);
  const call: KernelCall<unknown> = { shapes, attrs, outShape };
  const storages = inputs.map(dense);
  const out = wrap(forward(entry, backend, storages, call), outShape);
  if (def.nonDifferentiable) return out;
  const rule: GradRule = (gy) => {
    if (!entry.grad) {
      throw new TensorError(`backward: custom op '${opName}' has no gradient rule (define it with grad, or call registerGradient('${opName}', rule))`);
    }
    const grads = entry.grad(gy, { inputs, output: out, attrs });
    if (!Array.isArray(grads) || grads.length !== inputs.length) {
      throw new TensorError(`backward: the gradient rule of custom op '${opName}' must return ${inputs.length} gradient(s) (or nulls), got ${Array.isArray(grads) ? grads.length : typeof grads}`);
    }
    return grads;
  };
  return attach(out, opName, inputs, rule);
}

function forward(entry: OpEntry, backend: Backend, inputs: readonly Storage[], call: KernelCall<unknown>): Storage {
  const name = entry.def.name;
  const family = backendFamily(backend);
  const kernel = entry.kernels.get(family);
  if (kernel) {
    if (family === 'reference' || family === 'native') return runHost(backend, kernel as HostKernel<unknown>, inputs, call, false);
    if (family === 'gpujs') return runGpuJs(name, backend, kernel as GpuJsKernel<unknown>, inputs, call);
    const out = (kernel as StorageKernel<unknown>)({ ...call, backend, inputs });
    if (out?.backend !== backend || out.size !== sizeOf(call.outShape)) {
      throw new TensorError(`${name}: the '${family}' kernel must return a storage of backend '${backend.name}' holding ${sizeOf(call.outShape)} values`);
    }
    return out;
  }
  const reference = entry.kernels.get('reference') as HostKernel<unknown> | undefined;
  if (entry.def.hostFallback && reference) return runHost(backend, reference, inputs, call, true);
  const have = [...entry.kernels.keys()];
  throw new ArgumentError(
    `${name}: custom op '${name}' has no kernel for backend '${backend.name}' (family '${family}'; kernels: ${have.length ? have.join(', ') : 'none'}). ` +
      `Register one with registerKernel('${name}', '${family}', kernel)${reference ? ', or define the op with hostFallback: true to run its reference kernel through a readback' : ''}`,
  );
}

/** Host values of a storage: the backend's own array when it exposes one, else a readback. */
function hostValues(backend: Backend, s: Storage, readback: boolean): HostArray {
  const data = (s as { data?: unknown }).data;
  if (!readback && (data instanceof Float32Array || data instanceof Float64Array) && data.length >= s.size) {
    return data.length === s.size ? data : data.subarray(0, s.size); // a pooled buffer may be longer
  }
  return backend.read(s);
}

function runHost(backend: Backend, kernel: HostKernel<unknown>, inputs: readonly Storage[], call: KernelCall<unknown>, readback: boolean): Storage {
  const values = inputs.map((s) => hostValues(backend, s, readback));
  const size = sizeOf(call.outShape);
  const wide = values.some((v) => v instanceof Float64Array) || (backend instanceof ReferenceBackend && backend.precision === 'float64');
  const out = wide ? new Float64Array(size) : new Float32Array(size);
  kernel({ ...call, inputs: values, out });
  return backend.upload(out);
}

/** The part of GpuJsBackend a custom op needs (kept structural: core does not load gpu.js). */
interface KernelSpecRunner {
  runKernelSpec(
    spec: { name: string; source: string; constants: Readonly<Record<string, number>>; output: number },
    args: readonly (Storage | number)[],
  ): Storage;
}

const sourceIds = new Map<string, number>();

function runGpuJs(name: string, backend: Backend, kernel: GpuJsKernel<unknown>, inputs: readonly Storage[], call: KernelCall<unknown>): Storage {
  const runner = backend as unknown as Partial<KernelSpecRunner>;
  if (typeof runner.runKernelSpec !== 'function') throw new ArgumentError(`${name}: backend '${backend.name}' cannot run gpu.js kernels`);
  const k = kernel(call);
  const source = typeof k?.source === 'function' ? k.source.toString() : k?.source;
  if (typeof source !== 'string' || !/^\s*function\b/.test(source)) {
    throw new ArgumentError(`${name}: the gpujs kernel must return { source } as a 'function (...) { ... }' expression or its text`);
  }
  // The executor caches compiled kernels by name + constants + sizes: the name pins the source.
  let id = sourceIds.get(source);
  if (id === undefined) sourceIds.set(source, (id = sourceIds.size));
  const spec = { name: `custom:${name}#${id}`, source, constants: { ...k.constants }, output: sizeOf(call.outShape) };
  return runner.runKernelSpec(spec, [...inputs, ...(k.scalars ?? [])]);
}

function lookup(opName: string, caller: string): OpEntry {
  const entry = registry.get(opName);
  if (!entry) {
    const known = [...registry.keys()];
    throw new ArgumentError(`${caller}: no custom op named '${opName}' is registered (registered: ${known.length ? known.join(', ') : 'none'})`);
  }
  return entry;
}

function checkKernel(opName: string, family: string, kernel: AnyKernel<unknown>): AnyKernel<unknown> {
  if (typeof kernel !== 'function') throw new ArgumentError(`${opName}: the '${family}' kernel must be a function, got ${typeof kernel}`);
  return kernel;
}
