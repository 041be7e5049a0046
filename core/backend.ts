/**
 * The contract between ops and the machines that run them.
 *
 * Ops (core/ops) own shapes, broadcasting, views and gradients; a backend owns memory and
 * kernels. Every kernel takes storages (or strided views of them) plus plain-number
 * parameters and returns a new contiguous storage, so a backend never sees a Tensor and a
 * new backend slots in without touching ops or models. The reference backend
 * (backends/reference.ts) is the ground truth every other backend is tested against.
 */

/** A backend-owned block of values: an ndarray on the host, a texture or buffer on a GPU. */
export interface Storage {
  /** Number of elements. */
  readonly size: number;
  /** The backend that allocated it; ops refuse to mix storages of different backends. */
  readonly backend: Backend;
}

/** A strided window onto a storage (a stride of 0 repeats a dimension: broadcasting). */
export interface StridedView {
  readonly storage: Storage;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export const UNARY_OPS = [
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'tanh', 'sigmoid', 'silu', 'gelu', 'gelu_tanh',
  'relu', 'abs', 'sin', 'cos', 'square', 'sign',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

/** Elementwise binary ops. The comparisons return 1 or 0. */
export const BINARY_OPS = [
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge',
] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

export type ReduceOp = 'sum' | 'max' | 'min';

export interface Conv2dGeometry {
  batch: number;
  inChannels: number;
  inHeight: number;
  inWidth: number;
  outChannels: number;
  outHeight: number;
  outWidth: number;
  kernelHeight: number;
  kernelWidth: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  dilationH: number;
  dilationW: number;
  groups: number;
}

export interface Pool2dGeometry {
  batch: number;
  channels: number;
  inHeight: number;
  inWidth: number;
  outHeight: number;
  outWidth: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  padH: number;
  padW: number;
  /** Average over the window positions inside the input only (PyTorch count_include_pad=false). */
  countIncludePad: boolean;
}

export interface NormRowsResult {
  /** (x - mean) * rstd, row by row. */
  y: Storage;
  mean: Storage;
  rstd: Storage;
}

/** Hyper-parameters of one Adam/AdamW update (PyTorch's formulas). */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** true: AdamW's decoupled decay (p -= lr * wd * p); false: Adam's L2 (g += wd * p). */
  decoupled: boolean;
  /** The 1-based step number, for bias correction. */
  step: number;
}

export interface AdamState {
  param: Storage;
  m: Storage;
  v: Storage;
}

export interface Backend {
  /** A short name (`reference`, `gpujs:webasm`...) used in errors and benchmarks. */
  readonly name: string;

  // ---- memory --------------------------------------------------------------------------
  /** Copies host values into a new storage. */
  upload(values: ArrayLike<number>): Storage;
  /** Reads a storage back to the host (a readback on a GPU: ops never call it themselves). */
  read(storage: Storage): Float32Array | Float64Array;
  /** Releases a storage now instead of leaving it to the garbage collector. */
  dispose(storage: Storage): void;
  /**
   * Marks a storage as long-lived state: a parameter's values after setData/an optimiser step,
   * an optimiser's moments. A backend with scoped clean-up (gpu.js's tidy) must not release it
   * when the scope it was made in ends. Optional: backends without scopes ignore it.
   */
  keep?(storage: Storage): void;
  /**
   * Runs fn and then releases every storage of this backend allocated during it, except
   * those reachable from its result and those marked with keep(). Optional: a backend
   * without scopes leaves release to the garbage collector (core's tidy() then just runs fn).
   */
  tidy?<T>(fn: () => T): T;

  // ---- layout --------------------------------------------------------------------------
  /** Materialises any strided view as a contiguous storage in row-major order. */
  copy(view: StridedView): Storage;
  fill(size: number, value: number): Storage;
  /** Concatenation: input i is viewed as [outer, sizes[i], inner]; output [outer, sum(sizes), inner]. */
  concat(inputs: readonly Storage[], outer: number, sizes: readonly number[], inner: number): Storage;
  /** Constant padding of a contiguous tensor; pads[d] = [before, after] (each >= 0). */
  pad(x: Storage, shape: readonly number[], pads: readonly (readonly [number, number])[], value: number): Storage;

  // ---- elementwise ---------------------------------------------------------------------
  unary(op: UnaryOp, x: Storage): Storage;
  /** gy * d op(x) / dx, elementwise. */
  unaryGrad(op: UnaryOp, x: Storage, gy: Storage): Storage;
  /** Both views already have the output's shape (broadcast dims have stride 0). */
  binary(op: BinaryOp, a: StridedView, b: StridedView): Storage;
  /** cond != 0 ? a : b, all three views with the output's shape. */
  where(cond: StridedView, a: StridedView, b: StridedView): Storage;
  clamp(x: Storage, min: number, max: number): Storage;

  // ---- reductions ----------------------------------------------------------------------
  /** Reduces each row of a contiguous [rows, cols] block: result has `rows` values. */
  reduceRows(op: ReduceOp, x: Storage, rows: number, cols: number): Storage;

  // ---- dense ---------------------------------------------------------------------------
  /**
   * Batched matmul of contiguous blocks: a is [batch, m, k] ([batch, k, m] when transA),
   * b is [batch, k, n] ([batch, n, k] when transB); the result is [batch, m, n].
   */
  matmul(a: Storage, b: Storage, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean): Storage;
  /** x [N, C, H, W], w [O, C/groups, kh, kw] -> [N, O, OH, OW]. */
  conv2d(x: Storage, w: Storage, g: Conv2dGeometry): Storage;
  conv2dGradInput(gy: Storage, w: Storage, g: Conv2dGeometry): Storage;
  conv2dGradWeight(x: Storage, gy: Storage, g: Conv2dGeometry): Storage;

  // ---- spatial -------------------------------------------------------------------------
  /** Nearest upsampling of [N*C, H, W] by integer factors. */
  upsampleNearest2d(x: Storage, planes: number, h: number, w: number, scaleH: number, scaleW: number): Storage;
  upsampleNearest2dGrad(gy: Storage, planes: number, h: number, w: number, scaleH: number, scaleW: number): Storage;
  avgPool2d(x: Storage, g: Pool2dGeometry): Storage;
  avgPool2dGrad(gy: Storage, g: Pool2dGeometry): Storage;

  // ---- normalisation and softmax (fused, row-wise) -------------------------------------
  /** Standardises each row of [rows, cols] with the biased variance. */
  normRows(x: Storage, rows: number, cols: number, eps: number): NormRowsResult;
  /** Gradient of normRows: xhat is its output y, gy the incoming gradient. */
  normRowsGrad(xhat: Storage, gy: Storage, rstd: Storage, rows: number, cols: number): Storage;
  softmaxRows(x: Storage, rows: number, cols: number, log: boolean): Storage;
  /** Gradient of softmaxRows given its output y. */
  softmaxRowsGrad(y: Storage, gy: Storage, rows: number, cols: number, log: boolean): Storage;

  // ---- indexing ------------------------------------------------------------------------
  /** Rows of a [vocab, dim] table picked by integer-valued indices: [count, dim]. */
  gatherRows(table: Storage, indices: Storage, count: number, dim: number): Storage;
  /** Gradient of gatherRows, gather-style: row v sums gy over the positions whose index is v. */
  gatherRowsGrad(gy: Storage, indices: Storage, count: number, vocab: number, dim: number): Storage;

  // ---- optimisers ----------------------------------------------------------------------
  /** One fused Adam/AdamW update of a parameter: returns the new parameter and moments. */
  adamStep(param: Storage, grad: Storage, m: Storage, v: Storage, h: AdamHyper): AdamState;
}
