/**
 * GpuJsBackend: every kernel of the Backend interface as a gpu.js kernel, in one of
 * gpu.js's modes (webgpu, headlessgl, webasm, cpu, or auto).
 *
 * - Which mode really runs is reported (`mode`): gpu.js falls back to cpu silently, so the
 *   executor checks the class of every kernel it runs; `strict: true` makes a fallback an
 *   error instead.
 * - On GPU modes storages stay device-resident (gpu.js pipeline textures / buffers); only
 *   `read` brings values to the host, and `stats.readbacks` counts it.
 * - Memory is released deterministically with `dispose(storage)` or with `tidy(fn)`, which
 *   disposes every storage allocated inside fn except those reachable from its result.
 */
import type {
  AdamHyper, AdamState, Backend, BinaryOp, Conv2dGeometry, NormRowsResult, Pool2dGeometry, ReduceOp, Storage, StridedView, UnaryOp,
} from '../../backend.ts';
import { ArgumentError } from '../../errors.ts';
import { type GpuJsMode, type KernelArg, loadGpuJs, modeOfKernelClass } from './executor.ts';
import * as K from './kernels.ts';
import type { KernelSpec } from './kernels.ts';
import { type Executor, createExecutor } from './executors.ts';

export type GpuJsModeOption = GpuJsMode | 'auto';

/**
 * Room for the kernels of a few differently-shaped training steps: the tiny ControlNet + LoRA
 * step of `npm run bench -- --only step` uses 702 at one batch size (the process then holds
 * ~0.5 GB on webasm, model included). The old default, 256, recompiled every step (5x slower).
 */
export const DEFAULT_KERNEL_CACHE_SIZE = 4096;
export const GPUJS_MODES: readonly GpuJsMode[] = ['webgpu', 'headlessgl', 'webasm', 'cpu'];

export interface GpuJsBackendOptions {
  /** The gpu.js mode; `auto` takes the best one gpu.js finds (headlessgl, then webasm, then cpu). */
  mode?: GpuJsModeOption;
  /** Throw when gpu.js runs a kernel in another mode than the one asked for (default false). */
  strict?: boolean;
  /**
   * How many compiled kernels to keep (LRU; default DEFAULT_KERNEL_CACHE_SIZE). Kernels are
   * specialised to their shapes, so a training step of a small diffusion model uses ~700
   * distinct ones: a cache smaller than a step's set recompiles every step.
   */
  kernelCacheSize?: number;
  /**
   * webasm only: split kernels over gpu.js's worker pool. gpu.js threads webasm kernels only
   * under asyncMode, so the kernels run in a worker thread and reads block on it
   * (WorkerExecutor). Default false.
   */
  threads?: boolean;
}

export interface GpuJsStats {
  /** Storages read back to the host since creation (or resetStats). */
  readbacks: number;
  /** Storages allocated and not yet disposed. */
  liveStorages: number;
  /** Kernels compiled (cache misses). On webgpu and webasm+threads: as of the last readback. */
  compiles: number;
  /** Kernels currently cached. On webgpu and webasm+threads: as of the last readback. */
  cachedKernels: number;
}

type Handle = unknown;

export class GpuJsStorage implements Storage {
  /** @internal */ handle: Handle | null;
  constructor(
    readonly backend: GpuJsBackend,
    readonly size: number,
    handle: Handle,
  ) {
    this.handle = handle;
  }
  get disposed(): boolean {
    return this.handle === null;
  }
}

/** Resolves `auto` the way gpu.js orders its kernels (webgpu is never auto-selected). */
export function resolveAutoMode(): GpuJsMode {
  const { GPU } = loadGpuJs();
  const gpu = new GPU({});
  const mode = modeOfKernelClass(gpu.Kernel.name);
  return mode === 'headlessgl' || mode === 'webasm' ? mode : 'cpu';
}

export class GpuJsBackend implements Backend {
  readonly name: string;
  /** The mode asked for (auto resolved). */
  readonly requestedMode: GpuJsMode;
  readonly strict: boolean;
  readonly threads: boolean;
  private readonly exec: Executor;
  private readonly live = new Set<GpuJsStorage>();
  private readonly scopes: Set<GpuJsStorage>[] = [];
  private readbacks = 0;
  private destroyed = false;

  constructor(options: GpuJsBackendOptions = {}) {
    const mode = options.mode ?? 'auto';
    if (mode !== 'auto' && !GPUJS_MODES.includes(mode)) {
      throw new ArgumentError(`GpuJsBackend: mode must be one of auto, ${GPUJS_MODES.join(', ')}; got '${String(mode)}'`);
    }
    this.requestedMode = mode === 'auto' ? resolveAutoMode() : mode;
    this.strict = options.strict ?? false;
    if (options.threads && this.requestedMode !== 'webasm') {
      throw new ArgumentError(`GpuJsBackend: threads: true needs mode 'webasm', got '${this.requestedMode}'`);
    }
    this.threads = options.threads ?? false;
    this.exec = createExecutor({ mode: this.requestedMode, strict: this.strict, cacheSize: options.kernelCacheSize ?? DEFAULT_KERNEL_CACHE_SIZE, threads: this.threads });
    if (this.strict && this.exec.actualMode !== this.requestedMode) {
      throw new ArgumentError(`GpuJsBackend: mode '${this.requestedMode}' was requested with strict: true, but gpu.js can only run '${this.exec.actualMode}' here`);
    }
    this.name = `gpujs:${this.requestedMode}${this.threads ? '+threads' : ''}`;
  }

  /** The mode kernels really run in: differs from requestedMode after a silent gpu.js fallback. */
  get mode(): string {
    return this.exec.actualMode;
  }

  get fallbackReason(): string | null {
    return this.exec.fallbackReason;
  }

  get stats(): GpuJsStats {
    return { readbacks: this.readbacks, liveStorages: this.live.size, compiles: this.exec.compiles, cachedKernels: this.exec.cachedKernels };
  }

  /** Buffers alive on the device as the device side counts them (webgpu only), else null. */
  deviceBuffers(): number | null {
    return this.exec.deviceBuffers ? this.exec.deviceBuffers() : null;
  }

  resetStats(): void {
    this.readbacks = 0;
  }

  /**
   * Runs fn and then disposes every storage of this backend allocated during it, except
   * those reachable from its result (Tensors, Storages, arrays and plain objects of them).
   * If fn throws, everything it allocated is disposed.
   */
  tidy<T>(fn: () => T): T {
    const scope = new Set<GpuJsStorage>();
    this.scopes.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      for (const s of scope) this.dispose(s);
      throw e;
    } finally {
      this.scopes.pop();
    }
    const keep = new Set<Storage>();
    collectStorages(result, keep, new Set());
    for (const s of scope) {
      if (keep.has(s)) {
        // A kept storage belongs to the enclosing scope, if any.
        this.scopes.at(-1)?.add(s);
      } else {
        this.dispose(s);
      }
    }
    return result;
  }

  /**
   * Marks a storage long-lived (Backend.keep: a parameter's new values, an optimiser's
   * moments): no tidy open now disposes it; dispose() still does.
   */
  keep(storage: Storage): void {
    if (!(storage instanceof GpuJsStorage) || storage.backend !== this) return;
    for (const scope of this.scopes) scope.delete(storage);
  }

  /**
   * Disposes every storage and releases the executor (compiled kernels, the GL context, the
   * worker thread); the backend cannot be used afterwards.
   */
  destroy(): void {
    for (const s of [...this.live]) this.dispose(s);
    this.exec.destroy();
    this.destroyed = true;
  }

  // ---- plumbing ------------------------------------------------------------------------

  private wrap(size: number, handle: Handle): GpuJsStorage {
    const s = new GpuJsStorage(this, size, handle);
    this.live.add(s);
    this.scopes.at(-1)?.add(s);
    return s;
  }

  private handle(s: Storage, what: string): Handle {
    if (!(s instanceof GpuJsStorage) || s.backend !== this) {
      throw new ArgumentError(`${this.name}: ${what} is a storage of backend '${s.backend?.name}'`);
    }
    if (s.handle === null) throw new ArgumentError(`${this.name}: ${what} was disposed and cannot be used any more`);
    return s.handle;
  }

  private checkAlive(): void {
    if (this.destroyed) throw new ArgumentError(`${this.name}: the backend was destroyed and cannot be used any more`);
  }

  /** Runs a kernel; an empty output never reaches gpu.js (it cannot size a 0-element kernel). */
  private run(spec: KernelSpec, args: readonly (Storage | number)[]): GpuJsStorage {
    this.checkAlive();
    if (spec.output === 0) return this.wrap(0, this.exec.upload(new Float32Array(0)));
    const kargs: KernelArg[] = args.map((a, i) => (typeof a === 'number' ? a : (this.handle(a, `argument ${i} of ${spec.name}`) as KernelArg)));
    const argSizes = args.map((a) => (typeof a === 'number' ? 0 : a.size));
    return this.wrap(spec.output, this.exec.run({ ...spec, argSizes }, kargs));
  }

  // ---- memory --------------------------------------------------------------------------
  upload(values: ArrayLike<number>): Storage {
    this.checkAlive();
    return this.wrap(values.length, this.exec.upload(Float32Array.from(values)));
  }

  read(storage: Storage): Float32Array {
    const h = this.handle(storage, 'read');
    this.readbacks++;
    if (storage.size === 0) return new Float32Array(0);
    return this.exec.read(h, storage.size);
  }

  dispose(storage: Storage): void {
    if (!(storage instanceof GpuJsStorage) || storage.backend !== this || storage.handle === null) return;
    this.exec.release(storage.handle);
    storage.handle = null;
    this.live.delete(storage);
  }

  // ---- layout --------------------------------------------------------------------------
  copy(view: StridedView): Storage {
    return this.run(K.stridedCopy(view.shape, view), [view.storage]);
  }

  fill(size: number, value: number): Storage {
    return this.upload(new Float32Array(size).fill(value));
  }

  concat(inputs: readonly Storage[], outer: number, sizes: readonly number[], inner: number): Storage {
    // gpu.js cannot bind an empty array: empty inputs contribute nothing anyway.
    let level = inputs.map((storage, i) => ({ storage, size: sizes[i]!, owned: false })).filter((p) => p.storage.size > 0);
    if (level.length === 0) return this.upload(new Float32Array(0));
    // Joins neighbours two at a time, level by level (a tree: every value is copied about
    // log2(k) times for k inputs, where a left fold copies the growing prefix k times):
    // gpu.js binds every argument to a texture unit or storage buffer, and a fixed arity
    // keeps the number of compiled variants down.
    while (level.length > 1) {
      const next: typeof level = [];
      for (let i = 0; i < level.length; i += 2) {
        const a = level[i]!;
        const b = level[i + 1];
        if (!b) {
          next.push(a);
          continue;
        }
        const storage = this.run(K.concat2(outer, a.size, b.size, inner), [a.storage, b.storage]);
        if (a.owned) this.dispose(a.storage);
        if (b.owned) this.dispose(b.storage);
        next.push({ storage, size: a.size + b.size, owned: true });
      }
      level = next;
    }
    const only = level[0]!;
    return only.owned ? only.storage : this.copy({ storage: only.storage, shape: [only.storage.size], strides: [1], offset: 0 });
  }

  pad(x: Storage, shape: readonly number[], pads: readonly (readonly [number, number])[], value: number): Storage {
    if (shape.length === 0) return this.copy({ storage: x, shape: [], strides: [], offset: 0 });
    return this.run(K.pad(shape, pads), [x, value]);
  }

  // ---- elementwise ---------------------------------------------------------------------
  unary(op: UnaryOp, x: Storage): Storage {
    return this.run(K.unary(op, x.size), [x]);
  }

  unaryGrad(op: UnaryOp, x: Storage, gy: Storage): Storage {
    return this.run(K.unaryGrad(op, x.size), [x, gy]);
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView): Storage {
    return this.run(K.binary(op, a.shape, a, b), [a.storage, b.storage]);
  }

  where(cond: StridedView, a: StridedView, b: StridedView): Storage {
    return this.run(K.where(cond.shape, cond, a, b), [cond.storage, a.storage, b.storage]);
  }

  clamp(x: Storage, min: number, max: number): Storage {
    const hasMin = Number.isFinite(min);
    const hasMax = Number.isFinite(max);
    return this.run(K.clamp(x.size, hasMin, hasMax), [x, hasMin ? min : 0, hasMax ? max : 0]);
  }

  // ---- reductions ----------------------------------------------------------------------
  reduceRows(op: ReduceOp, x: Storage, rows: number, cols: number): Storage {
    if (cols === 0) return this.fill(rows, op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity);
    return this.run(K.reduceRows(op, rows, cols), [x]);
  }

  // ---- dense ---------------------------------------------------------------------------
  matmul(a: Storage, b: Storage, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean): Storage {
    if (k === 0) return this.fill(batch * m * n, 0);
    if (this.mode === 'webasm' && m % 4 === 0) {
      // webasm's SIMD codegen rewards 4 outputs per thread (docs/kernels.md); the permute
      // back to [batch, m, n] costs O(m n) against the product's O(m n k).
      const raw = this.run(K.matmulRows4(batch, m, k, n, transA, transB), [a, b]);
      const out = this.copy({ storage: raw, ...K.matmulRows4Layout(batch, m, n) });
      this.dispose(raw);
      return out;
    }
    return this.run(K.matmul(batch, m, k, n, transA, transB), [a, b]);
  }

  /**
   * On webasm, convolutions run as im2col + the 4-rows-per-thread matmul (docs/kernels.md):
   * its SIMD codegen turns a direct convolution's loads into 4-lane gathers, while the
   * matmul keeps one operand lane-uniform and reuses every loaded value 4 times. The patch
   * matrix costs C * KH * KW * N * OH * OW floats, so very large inputs stay direct.
   */
  private useIm2col(g: Conv2dGeometry): boolean {
    const patches = g.inChannels * g.kernelHeight * g.kernelWidth * g.batch * g.outHeight * g.outWidth;
    return this.mode === 'webasm' && patches <= IM2COL_MAX_FLOATS;
  }

  conv2d(x: Storage, w: Storage, g: Conv2dGeometry): Storage {
    if (!this.useIm2col(g)) return this.run(K.conv2d(g), [x, w]);
    const { G, opg, ckk, L, P } = convDims(g);
    const cols = this.run(K.im2col(g), [x]);
    // [G, O/G, Cg*KH*KW] @ [G, Cg*KH*KW, L] -> [O, N, OH*OW]
    const y = this.matmul(w, cols, G, opg, ckk, L, false, false);
    this.dispose(cols);
    const out = this.copy({ storage: y, shape: [g.batch, g.outChannels, P], strides: [P, L, 1], offset: 0 });
    this.dispose(y);
    return out;
  }

  conv2dGradInput(gy: Storage, w: Storage, g: Conv2dGeometry): Storage {
    if (!this.useIm2col(g)) return this.run(K.conv2dGradInput(g), [gy, w]);
    const { G, opg, ckk, L } = convDims(g);
    const gyT = this.gradOutputByChannel(gy, g);
    // W^T [G, Cg*KH*KW, O/G] @ gy [G, O/G, L] -> patch-matrix gradient [G, Cg*KH*KW, L]
    const gcols = this.matmul(w, gyT, G, ckk, opg, L, true, false);
    this.dispose(gyT);
    const out = this.run(K.col2im(g), [gcols]);
    this.dispose(gcols);
    return out;
  }

  conv2dGradWeight(x: Storage, gy: Storage, g: Conv2dGeometry): Storage {
    if (!this.useIm2col(g)) return this.run(K.conv2dGradWeight(g), [x, gy]);
    const { G, opg, ckk, L } = convDims(g);
    const colsT = this.run(K.im2col(g, true), [x]);
    const gyT = this.gradOutputByChannel(gy, g);
    // gy [G, O/G, L] @ cols^T [G, L, Cg*KH*KW] -> [O, Cg, KH, KW]
    const out = this.matmul(gyT, colsT, G, opg, L, ckk, false, false);
    this.dispose(colsT);
    this.dispose(gyT);
    return out;
  }

  /** gy [N, O, OH*OW] as [O, N * OH*OW]: channel-major, the matmul layout. */
  private gradOutputByChannel(gy: Storage, g: Conv2dGeometry): Storage {
    const P = g.outHeight * g.outWidth;
    return this.copy({ storage: gy, shape: [g.outChannels, g.batch, P], strides: [P, g.outChannels * P, 1], offset: 0 });
  }

  // ---- spatial -------------------------------------------------------------------------
  upsampleNearest2d(x: Storage, planes: number, h: number, w: number, scaleH: number, scaleW: number): Storage {
    return this.run(K.upsampleNearest2d(planes, h, w, scaleH, scaleW), [x]);
  }

  upsampleNearest2dGrad(gy: Storage, planes: number, h: number, w: number, scaleH: number, scaleW: number): Storage {
    return this.run(K.upsampleNearest2dGrad(planes, h, w, scaleH, scaleW), [gy]);
  }

  avgPool2d(x: Storage, g: Pool2dGeometry): Storage {
    return this.run(K.avgPool2d(g), [x]);
  }

  avgPool2dGrad(gy: Storage, g: Pool2dGeometry): Storage {
    return this.run(K.avgPool2dGrad(g), [gy]);
  }

  // ---- normalisation and softmax -------------------------------------------------------
  normRows(x: Storage, rows: number, cols: number, eps: number): NormRowsResult {
    const mean = this.run(K.rowMean(rows, cols), [x]);
    const rstd = this.run(K.rowRstd(rows, cols), [x, mean, eps]);
    const y = this.run(K.normApply(rows, cols), [x, mean, rstd]);
    return { y, mean, rstd };
  }

  normRowsGrad(xhat: Storage, gy: Storage, rstd: Storage, rows: number, cols: number): Storage {
    const st = this.run(K.normGradStats(rows, cols), [xhat, gy]);
    const out = this.run(K.normGradApply(rows, cols), [xhat, gy, rstd, st]);
    this.dispose(st);
    return out;
  }

  softmaxRows(x: Storage, rows: number, cols: number, log: boolean): Storage {
    const st = this.run(K.softmaxStats(rows, cols), [x]);
    const out = this.run(K.softmaxApply(rows, cols, log), [x, st]);
    this.dispose(st);
    return out;
  }

  softmaxRowsGrad(y: Storage, gy: Storage, rows: number, cols: number, log: boolean): Storage {
    const dot = this.run(K.softmaxGradDot(rows, cols, log), [y, gy]);
    const out = this.run(K.softmaxGradApply(rows, cols, log), [y, gy, dot]);
    this.dispose(dot);
    return out;
  }

  // ---- indexing ------------------------------------------------------------------------
  gatherRows(table: Storage, indices: Storage, count: number, dim: number): Storage {
    return this.run(K.gatherRows(count, dim), [table, indices]);
  }

  gatherRowsGrad(gy: Storage, indices: Storage, count: number, vocab: number, dim: number): Storage {
    if (count === 0) return this.fill(vocab * dim, 0);
    return this.run(K.gatherRowsGrad(count, vocab, dim), [gy, indices]);
  }

  // ---- optimisers ----------------------------------------------------------------------
  adamStep(param: Storage, grad: Storage, m: Storage, v: Storage, h: AdamHyper): AdamState {
    const n = param.size;
    const m2 = this.run(K.adamMoment1(n, h.decoupled), [param, grad, m, h.beta1, h.weightDecay]);
    const v2 = this.run(K.adamMoment2(n, h.decoupled), [param, grad, v, h.beta2, h.weightDecay]);
    const c1 = 1 - h.beta1 ** h.step;
    const c2 = 1 - h.beta2 ** h.step;
    const p2 = this.run(K.adamParam(n, h.decoupled), [param, m2, v2, h.lr, h.weightDecay, c1, c2, h.eps]);
    return { param: p2, m: m2, v: v2 };
  }
}

/** Largest im2col patch matrix (floats) before webasm convolutions stay direct: 64 MiB. */
const IM2COL_MAX_FLOATS = 16 * 1024 * 1024;

function convDims(g: Conv2dGeometry) {
  const G = g.groups;
  const P = g.outHeight * g.outWidth;
  return { G, opg: g.outChannels / G, ckk: (g.inChannels / G) * g.kernelHeight * g.kernelWidth, L: g.batch * P, P };
}

/** Every Storage reachable from a value through Tensors (storage, grad), arrays and plain objects. */
function collectStorages(value: unknown, out: Set<Storage>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof GpuJsStorage) {
    out.add(value);
    return;
  }
  const rec = value as Record<string, unknown>;
  if ('storage' in rec && 'shape' in rec) {
    collectStorages(rec.storage, out, seen);
    collectStorages(rec.grad, out, seen);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectStorages(v, out, seen);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectStorages(v, out, seen);
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    for (const v of Object.values(rec)) collectStorages(v, out, seen);
  }
}
