/**
 * NativeBackend: every kernel of the Backend interface in the C++ addon (src/), on host
 * memory. Storages are Float32Arrays taken from a size-bucketed pool (pool.ts) and handed to
 * the addon without copies; dispose() and tidy() put them back, so a training step wrapped
 * in tidy() allocates nothing after its first run. Large kernels run on a thread pool in the
 * addon (one per process, sized by the `threads` of the backend that runs the kernel).
 */
import { availableParallelism } from 'node:os';
import type {
  AdamHyper, AdamState, Backend, BinaryOp, Conv2dGeometry, NormRowsResult, Pool2dGeometry, ReduceOp, Storage, StridedView, UnaryOp,
} from '../../backend.ts';
import { BINARY_OPS, UNARY_OPS } from '../../backend.ts';
import { ArgumentError } from '../../errors.ts';
import { sizeOf } from '../../shape.ts';
import { collectStorages } from '../reachable.ts';
import { type NativeAddon, nativeAddon, nativeStatus } from './addon.ts';
import { BufferPool, type BufferPoolStats } from './pool.ts';

export interface NativeBackendOptions {
  /**
   * Threads for large kernels (the caller's thread included). Default: CTRLORA_NATIVE_THREADS
   * when set, else the machine's cores (os.availableParallelism()).
   */
  threads?: number;
}

export interface NativeStats extends BufferPoolStats {
  /** Storages made and not yet disposed. */
  liveStorages: number;
}

export class NativeStorage implements Storage {
  /** @internal */ buf: Float32Array | null;
  constructor(
    readonly backend: NativeBackend,
    readonly size: number,
    buf: Float32Array,
  ) {
    this.buf = buf;
  }

  /**
   * The values, on the host: custom kernels written in TypeScript read and write them
   * directly. After dispose() the buffer belongs to the pool and reading it is an error.
   */
  get data(): Float32Array {
    if (this.buf === null) throw new ArgumentError(`${this.backend.name}: this storage was disposed and cannot be used any more`);
    return this.buf;
  }

  get disposed(): boolean {
    return this.buf === null;
  }
}

/** Bytes of released buffers kept for reuse (CTRLORA_NATIVE_POOL_MB overrides; default 2 GiB). */
const POOL_BYTES = (Number(process.env.CTRLORA_NATIVE_POOL_MB) || 2048) * 2 ** 20;

const UNARY_CODE = new Map<UnaryOp, number>(UNARY_OPS.map((op, i) => [op, i]));
const BINARY_CODE = new Map<BinaryOp, number>(BINARY_OPS.map((op, i) => [op, i]));
const REDUCE_CODE: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2 };

/** The addon's thread count as last set (one pool per process, shared by every backend). */
let activeThreads = 0;

export function defaultThreads(): number {
  const env = process.env.CTRLORA_NATIVE_THREADS;
  if (env !== undefined && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`CTRLORA_NATIVE_THREADS must be a positive integer, got '${env}'`);
    return n;
  }
  return availableParallelism();
}

export class NativeBackend implements Backend {
  readonly name = 'native';
  /** Threads large kernels use, the caller's included. */
  readonly threads: number;
  /** The GEMM kernel the CPU got: avx512, avx2 or portable. */
  readonly isa: string;
  private readonly addon: NativeAddon;
  private readonly pool = new BufferPool(POOL_BYTES);
  private readonly live = new Set<NativeStorage>();
  private readonly scopes: Set<NativeStorage>[] = [];
  /** Shapes, strides and geometries go to the addon through this reused array (no allocation per call). */
  private readonly dims = new Float64Array(256);

  constructor(options: NativeBackendOptions = {}) {
    const unknown = Object.keys(options).filter((k) => k !== 'threads');
    if (unknown.length) throw new ArgumentError(`NativeBackend: unknown option ${unknown.map((k) => `'${k}'`).join(', ')}; it takes 'threads'`);
    const threads = options.threads ?? defaultThreads();
    if (!Number.isInteger(threads) || threads < 1 || threads > 1024) {
      throw new ArgumentError(`NativeBackend: threads must be an integer from 1 to 1024, got ${String(threads)}`);
    }
    const addon = nativeAddon();
    if (!addon) throw new ArgumentError(`NativeBackend: ${(nativeStatus() as { reason: string }).reason}`);
    this.addon = addon;
    this.threads = threads;
    this.isa = addon.isa();
  }

  get stats(): NativeStats {
    return { liveStorages: this.live.size, ...this.pool.stats };
  }

  /**
   * Runs fn and then returns to the pool every storage allocated during it, except those
   * reachable from its result and those marked with keep(). If fn throws, everything it
   * allocated is released.
   */
  tidy<T>(fn: () => T): T {
    const scope = new Set<NativeStorage>();
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
    collectStorages(result, this.isOwn, keep);
    for (const s of scope) {
      if (keep.has(s)) this.scopes.at(-1)?.add(s); // a kept storage belongs to the enclosing scope
      else this.dispose(s);
    }
    return result;
  }

  /** Marks a storage long-lived (a parameter, an optimiser moment): no open tidy releases it. */
  keep(storage: Storage): void {
    if (!this.isOwn(storage)) return;
    for (const scope of this.scopes) scope.delete(storage);
  }

  /** Returns the storage's buffer to the pool now; using the storage afterwards is an error. */
  dispose(storage: Storage): void {
    if (!this.isOwn(storage) || storage.buf === null) return;
    this.pool.give(storage.buf);
    storage.buf = null;
    this.live.delete(storage);
  }

  /** Drops every pooled buffer (live storages stay valid). */
  releasePool(): void {
    this.pool.clear();
  }

  private readonly isOwn = (v: object): v is NativeStorage => v instanceof NativeStorage && v.backend === this;

  // ---- plumbing ------------------------------------------------------------------------

  /** The addon, with the pool set to this backend's thread count. */
  private get n(): NativeAddon {
    if (activeThreads !== this.threads) {
      this.addon.setThreads(this.threads);
      activeThreads = this.threads;
    }
    return this.addon;
  }

  private out(size: number): NativeStorage {
    const s = new NativeStorage(this, size, this.pool.take(size));
    this.live.add(s);
    this.scopes.at(-1)?.add(s);
    return s;
  }

  private buf(s: Storage, what: string): Float32Array {
    if (!this.isOwn(s)) throw new ArgumentError(`${this.name}: ${what} is a storage of backend '${s.backend?.name}'`);
    if (s.buf === null) throw new ArgumentError(`${this.name}: ${what} was disposed and cannot be used any more`);
    return s.buf;
  }

  /** Writes numbers into the dims array from `at`; returns the next free index. */
  private put(values: readonly number[], at: number): number {
    if (at + values.length > this.dims.length) throw new ArgumentError(`${this.name}: rank ${values.length} is too large`);
    for (let i = 0; i < values.length; i++) this.dims[at + i] = values[i]!;
    return at + values.length;
  }

  // ---- memory --------------------------------------------------------------------------
  upload(values: ArrayLike<number>): Storage {
    const s = this.out(values.length);
    s.data.set(values);
    return s;
  }

  read(storage: Storage): Float32Array {
    return this.buf(storage, 'read').slice();
  }

  // ---- layout --------------------------------------------------------------------------
  copy(view: StridedView): Storage {
    const src = this.buf(view.storage, 'copy source');
    const rank = view.shape.length;
    const out = this.out(sizeOf(view.shape));
    let at = this.put(view.shape, 0);
    at = this.put(view.strides, at);
    let stride = 1;
    for (let d = rank - 1; d >= 0; d--) {
      this.dims[at + d] = stride;
      stride *= view.shape[d]!;
    }
    this.n.copy(out.data, src, view.offset, rank, this.dims, 0);
    return out;
  }

  fill(size: number, value: number): Storage {
    const s = this.out(size);
    s.data.fill(value);
    return s;
  }

  concat(inputs: readonly Storage[], outer: number, sizes: readonly number[], inner: number): Storage {
    const bufs = inputs.map((s, i) => this.buf(s, `concat input ${i}`));
    const out = this.out(outer * sizes.reduce((a, b) => a + b, 0) * inner);
    this.put(sizes, 0);
    this.n.concat(out.data, bufs, outer, this.dims, inner);
    return out;
  }

  pad(x: Storage, shape: readonly number[], pads: readonly (readonly [number, number])[], value: number): Storage {
    const src = this.buf(x, 'pad input');
    const rank = shape.length;
    const out = this.out(sizeOf(shape.map((d, i) => d + pads[i]![0] + pads[i]![1])));
    this.put(shape, 0);
    for (let d = 0; d < rank; d++) {
      this.dims[rank + d] = pads[d]![0];
      this.dims[2 * rank + d] = pads[d]![1];
    }
    this.n.pad(out.data, src, rank, this.dims, value);
    return out;
  }

  // ---- elementwise ---------------------------------------------------------------------
  unary(op: UnaryOp, x: Storage): Storage {
    const src = this.buf(x, `${op} input`);
    const out = this.out(x.size);
    this.n.unary(UNARY_CODE.get(op)!, src, out.data);
    return out;
  }

  unaryGrad(op: UnaryOp, x: Storage, gy: Storage): Storage {
    const src = this.buf(x, `${op} gradient input`);
    const g = this.buf(gy, `${op} gradient`);
    const out = this.out(x.size);
    this.n.unaryGrad(UNARY_CODE.get(op)!, src, g, out.data);
    return out;
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView): Storage {
    const A = this.buf(a.storage, `${op} left operand`);
    const B = this.buf(b.storage, `${op} right operand`);
    const out = this.out(sizeOf(a.shape));
    this.put(b.strides, this.put(a.strides, this.put(a.shape, 0)));
    this.n.binary(BINARY_CODE.get(op)!, out.data, A, a.offset, B, b.offset, a.shape.length, this.dims);
    return out;
  }

  where(cond: StridedView, a: StridedView, b: StridedView): Storage {
    const C = this.buf(cond.storage, 'where condition');
    const A = this.buf(a.storage, 'where a');
    const B = this.buf(b.storage, 'where b');
    const out = this.out(sizeOf(cond.shape));
    this.put(b.strides, this.put(a.strides, this.put(cond.strides, this.put(cond.shape, 0))));
    this.n.where(out.data, C, cond.offset, A, a.offset, B, b.offset, cond.shape.length, this.dims);
    return out;
  }

  clamp(x: Storage, min: number, max: number): Storage {
    const src = this.buf(x, 'clamp input');
    const out = this.out(x.size);
    this.n.clamp(src, out.data, min, max);
    return out;
  }

  // ---- reductions ----------------------------------------------------------------------
  reduceRows(op: ReduceOp, x: Storage, rows: number, cols: number): Storage {
    const src = this.buf(x, `reduce ${op} input`);
    const out = this.out(rows);
    this.n.reduceRows(REDUCE_CODE[op], src, out.data, rows, cols);
    return out;
  }

  // ---- dense ---------------------------------------------------------------------------
  matmul(a: Storage, b: Storage, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean): Storage {
    const A = this.buf(a, 'matmul a');
    const B = this.buf(b, 'matmul b');
    const out = this.out(batch * m * n);
    this.n.matmul(A, B, out.data, batch, m, k, n, transA, transB);
    return out;
  }

  private conv(g: Conv2dGeometry): Float64Array {
    const d = this.dims;
    d[0] = g.batch; d[1] = g.inChannels; d[2] = g.inHeight; d[3] = g.inWidth;
    d[4] = g.outChannels; d[5] = g.outHeight; d[6] = g.outWidth; d[7] = g.kernelHeight; d[8] = g.kernelWidth;
    d[9] = g.strideH; d[10] = g.strideW; d[11] = g.padH; d[12] = g.padW; d[13] = g.dilationH; d[14] = g.dilationW; d[15] = g.groups;
    return d;
  }

  conv2d(x: Storage, w: Storage, g: Conv2dGeometry): Storage {
    const X = this.buf(x, 'conv2d input');
    const W = this.buf(w, 'conv2d weight');
    const out = this.out(g.batch * g.outChannels * g.outHeight * g.outWidth);
    this.n.conv2d(X, W, out.data, this.conv(g));
    return out;
  }

  conv2dGradInput(gy: Storage, w: Storage, g: Conv2dGeometry): Storage {
    const GY = this.buf(gy, 'conv2d output gradient');
    const W = this.buf(w, 'conv2d weight');
    const out = this.out(g.batch * g.inChannels * g.inHeight * g.inWidth);
    this.n.conv2dGradInput(GY, W, out.data, this.conv(g));
    return out;
  }

  conv2dGradWeight(x: Storage, gy: Storage, g: Conv2dGeometry): Storage {
    const X = this.buf(x, 'conv2d input');
    const GY = this.buf(gy, 'conv2d output gradient');
    const out = this.out(g.outChannels * (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth);
    this.n.conv2dGradWeight(X, GY, out.data, this.conv(g));
    return out;
  }

  // ---- spatial -------------------------------------------------------------------------
  upsampleNearest2d(x: Storage, planes: number, h: number, w: number, scaleH: number, scaleW: number): Storage {
    const X = this.buf(x, 'upsample input');
    const out = this.out(planes * h * scaleH * w * scaleW);
    this.n.upsample(X, out.data, planes, h, w, scaleH, scaleW);
    return out;
  }

  upsampleNearest2dGrad(gy: Storage, planes: number, h: number, w: number, scaleH: number, scaleW: number): Storage {
    const G = this.buf(gy, 'upsample gradient');
    const out = this.out(planes * h * w);
    this.n.upsampleGrad(G, out.data, planes, h, w, scaleH, scaleW);
    return out;
  }

  private pool2d(g: Pool2dGeometry): Float64Array {
    const d = this.dims;
    d[0] = g.batch * g.channels; d[1] = g.inHeight; d[2] = g.inWidth; d[3] = g.outHeight; d[4] = g.outWidth;
    d[5] = g.kernelH; d[6] = g.kernelW; d[7] = g.strideH; d[8] = g.strideW; d[9] = g.padH; d[10] = g.padW; d[11] = g.countIncludePad ? 1 : 0;
    return d;
  }

  avgPool2d(x: Storage, g: Pool2dGeometry): Storage {
    const X = this.buf(x, 'avg_pool2d input');
    const out = this.out(g.batch * g.channels * g.outHeight * g.outWidth);
    this.n.avgPool(X, out.data, this.pool2d(g));
    return out;
  }

  avgPool2dGrad(gy: Storage, g: Pool2dGeometry): Storage {
    const G = this.buf(gy, 'avg_pool2d gradient');
    const out = this.out(g.batch * g.channels * g.inHeight * g.inWidth);
    this.n.avgPoolGrad(G, out.data, this.pool2d(g));
    return out;
  }

  // ---- normalisation and softmax -------------------------------------------------------
  normRows(x: Storage, rows: number, cols: number, eps: number): NormRowsResult {
    const X = this.buf(x, 'norm input');
    const y = this.out(rows * cols);
    const mean = this.out(rows);
    const rstd = this.out(rows);
    this.n.normRows(X, y.data, mean.data, rstd.data, rows, cols, eps);
    return { y, mean, rstd };
  }

  normRowsGrad(xhat: Storage, gy: Storage, rstd: Storage, rows: number, cols: number): Storage {
    const XH = this.buf(xhat, 'norm output');
    const G = this.buf(gy, 'norm gradient');
    const RS = this.buf(rstd, 'norm rstd');
    const out = this.out(rows * cols);
    this.n.normRowsGrad(XH, G, RS, out.data, rows, cols);
    return out;
  }

  softmaxRows(x: Storage, rows: number, cols: number, log: boolean): Storage {
    const X = this.buf(x, 'softmax input');
    const out = this.out(rows * cols);
    this.n.softmaxRows(X, out.data, rows, cols, log);
    return out;
  }

  softmaxRowsGrad(y: Storage, gy: Storage, rows: number, cols: number, log: boolean): Storage {
    const Y = this.buf(y, 'softmax output');
    const G = this.buf(gy, 'softmax gradient');
    const out = this.out(rows * cols);
    this.n.softmaxRowsGrad(Y, G, out.data, rows, cols, log);
    return out;
  }

  // ---- indexing ------------------------------------------------------------------------
  gatherRows(table: Storage, indices: Storage, count: number, dim: number): Storage {
    const T = this.buf(table, 'embedding table');
    const I = this.buf(indices, 'embedding indices');
    const out = this.out(count * dim);
    this.n.gatherRows(T, I, out.data, count, dim);
    return out;
  }

  gatherRowsGrad(gy: Storage, indices: Storage, count: number, vocab: number, dim: number): Storage {
    const G = this.buf(gy, 'embedding gradient');
    const I = this.buf(indices, 'embedding indices');
    const out = this.out(vocab * dim);
    this.n.gatherRowsGrad(G, I, out.data, count, vocab, dim);
    return out;
  }

  // ---- optimisers ----------------------------------------------------------------------
  adamStep(param: Storage, grad: Storage, m: Storage, v: Storage, h: AdamHyper): AdamState {
    const P = this.buf(param, 'adam parameter');
    const G = this.buf(grad, 'adam gradient');
    const M = this.buf(m, 'adam first moment');
    const V = this.buf(v, 'adam second moment');
    const out = { param: this.out(param.size), m: this.out(param.size), v: this.out(param.size) };
    const d = this.dims;
    d[0] = h.lr; d[1] = h.beta1; d[2] = h.beta2; d[3] = h.eps; d[4] = h.weightDecay;
    d[5] = 1 - h.beta1 ** h.step; d[6] = 1 - h.beta2 ** h.step; d[7] = h.decoupled ? 1 : 0;
    this.n.adam(P, G, M, V, out.param.data, out.m.data, out.v.data, d);
    return out;
  }
}
