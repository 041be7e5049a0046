/**
 * The Tensor: float32 values with a shape, strides and an offset over a backend-owned
 * storage. Shape ops (reshape, permute, slice, expand...) make views that share the
 * storage; kernels always write new contiguous storages. The methods here are thin
 * delegates to the functions in core/ops, where each op's forward and gradient live.
 */
import { type BackwardOptions, type GradNode, runBackward } from './autograd.ts';
import type { Backend, Storage } from './backend.ts';
import { ArgumentError, TensorError, fmtShape } from './errors.ts';
import * as ops from './ops/index.ts';
import { dense } from './ops/util.ts';
import { type Shape, contiguousStrides, sizeOf } from './shape.ts';

export type Scalar = number;
export type TensorOrScalar = Tensor | number;

/** A Tensor is itself the StridedView (storage, shape, strides, offset) that kernels read. */
export class Tensor {
  readonly dtype = 'float32' as const;
  readonly shape: readonly number[];
  // Rebound only by setData/_rebind (parameter updates); never mutated in place.
  strides: readonly number[];
  offset: number;
  storage: Storage;
  /** Accumulated gradient, set by backward() on leaves (and on non-leaves after retainGrad()). */
  grad: Tensor | null = null;
  /** An optional label shown in errors (modules name their parameters). */
  name: string | undefined;
  private _requiresGrad = false;
  private _gradFn: GradNode | null = null;
  /** @internal */ _retainsGrad = false;
  /** isContiguous(), computed once per layout (strides only change in _rebind). */
  private _contiguous: boolean | undefined;

  /** Number of elements (torch's numel); fixed, since the shape never changes. */
  readonly size: number;

  /**
   * `owned` (internal, the ops' fast path): take `shape` and `strides` as they are instead of
   * copying and freezing them; the caller hands over fresh arrays it never touches again.
   */
  constructor(storage: Storage, shape: Shape, strides?: readonly number[], offset = 0, owned = false) {
    this.storage = storage;
    this.shape = owned ? shape : Object.freeze([...shape]);
    this.strides = strides ? (owned ? strides : Object.freeze([...strides])) : contiguousStrides(shape);
    this.offset = offset;
    this.size = sizeOf(shape);
    this._contiguous = strides ? undefined : true;
  }

  get backend(): Backend {
    return this.storage.backend;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(flag: boolean) {
    if (this._gradFn && !flag) {
      throw new TensorError('requiresGrad can only be switched off on leaf tensors; use detach() on a computed one');
    }
    this._requiresGrad = flag;
  }
  /** Chainable form: `Tensor.randn([3]).requiresGrad_()`. */
  requiresGrad_(flag = true): this {
    this.requiresGrad = flag;
    return this;
  }
  get gradFn(): GradNode | null {
    return this._gradFn;
  }
  get isLeaf(): boolean {
    return this._gradFn === null;
  }
  /** @internal called by autograd.attach */
  _setGradFn(node: GradNode): void {
    this._gradFn = node;
    this._requiresGrad = true;
  }
  /** @internal called by backward on leaves */
  _accumulateGrad(g: Tensor): void {
    this.grad = this.grad ? this.grad.add(g) : g.contiguous();
  }
  /** Keep .grad on this non-leaf tensor during backward (torch's retain_grad). */
  retainGrad(): this {
    this._retainsGrad = true;
    return this;
  }

  isContiguous(): boolean {
    return (this._contiguous ??= this.computeContiguous());
  }
  private computeContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expected) return false;
      expected *= this.shape[i]!;
    }
    return true;
  }

  toString(): string {
    return `Tensor(shape=${fmtShape(this.shape)}, backend=${this.backend.name}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ---- reading values (readbacks on a GPU backend) ---------------------------------------
  /** The values in row-major order as float32. */
  toArray(): Float32Array {
    const v = this.readValues();
    return v instanceof Float32Array ? v : Float32Array.from(v);
  }
  /** The values in row-major order at the backend's own precision (float64 on reference-f64). */
  toFloat64Array(): Float64Array {
    return Float64Array.from(this.readValues());
  }
  /** Nested arrays, like torch's tolist(). */
  tolist(): unknown {
    const flat = this.readValues();
    const build = (dim: number, at: number): unknown => {
      if (dim === this.ndim) return flat[at];
      const stride = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim]! }, (_, i) => build(dim + 1, at + i * stride));
    };
    return build(0, 0);
  }
  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ArgumentError(`item: only a one-element tensor has an item, got shape ${fmtShape(this.shape)}`);
    return this.readValues()[0]!;
  }
  /** Reads the values in row-major order; a view is copied dense first and the copy released. */
  private readValues(): Float32Array | Float64Array {
    const s = dense(this);
    try {
      return this.backend.read(s);
    } finally {
      if (s !== this.storage) this.backend.dispose(s);
    }
  }
  /** Frees the storage now (GPU backends); the tensor must not be used afterwards. */
  dispose(): void {
    this.backend.dispose(this.storage);
  }

  // ---- autograd --------------------------------------------------------------------------
  backward(gradient?: Tensor, options?: BackwardOptions): void {
    runBackward(this, gradient, options);
  }
  /** Same storage, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.strides, this.offset, true);
  }
  zeroGrad(): void {
    this.grad = null;
  }
  /**
   * Replaces this leaf's values with a copy of `values` (torch's `param.data = values`, or
   * `copy_`): how optimisers, initialisers and state-dict loading update parameters, since
   * kernels never write into an existing storage. Every holder of this Tensor object sees
   * the new values; the old storage is released (GPU memory), so views taken earlier must
   * not be used afterwards.
   */
  setData(values: Tensor): this {
    if (this._gradFn) throw new TensorError('setData: only leaf tensors can be rebound (this one was computed by an op)');
    if (values.ndim !== this.ndim || values.shape.some((d, i) => d !== this.shape[i])) {
      throw new ArgumentError(`setData: values of shape ${fmtShape(values.shape)} cannot replace ${this.name ?? 'a tensor'} of shape ${fmtShape(this.shape)}`);
    }
    // A fresh copy, so this tensor never shares (and later frees) a storage someone else holds.
    this._rebind(values.backend === this.backend ? this.backend.copy(values) : this.backend.upload(values.toArray()));
    return this;
  }
  /** @internal Points this tensor at a dense storage of its size and releases the old one. */
  _rebind(storage: Storage): void {
    const old = this.storage;
    storage.backend.keep?.(storage); // the tensor outlives any scope (tidy) its new values were made in
    this.storage = storage;
    this.strides = contiguousStrides(this.shape);
    this._contiguous = true;
    this.offset = 0;
    if (old !== storage) old.backend.dispose(old);
  }

  // ---- creation alike --------------------------------------------------------------------
  zerosLike(): Tensor {
    return ops.full(this.shape, 0, { backend: this.backend });
  }
  onesLike(): Tensor {
    return ops.full(this.shape, 1, { backend: this.backend });
  }
  fullLike(value: number): Tensor {
    return ops.full(this.shape, value, { backend: this.backend });
  }
  clone(): Tensor {
    return ops.clone(this);
  }

  // ---- views -----------------------------------------------------------------------------
  contiguous(): Tensor {
    return ops.contiguous(this);
  }
  reshape(shape: Shape): Tensor {
    return ops.reshape(this, shape);
  }
  /** Like reshape, but refuses to copy (torch's view). */
  view(shape: Shape): Tensor {
    return ops.view(this, shape);
  }
  flatten(startAxis = 0, endAxis = -1): Tensor {
    return ops.flatten(this, startAxis, endAxis);
  }
  permute(axes: readonly number[]): Tensor {
    return ops.permute(this, axes);
  }
  transpose(a: number, b: number): Tensor {
    return ops.transpose(this, a, b);
  }
  /** Transpose of the last two axes. */
  get mT(): Tensor {
    return ops.transpose(this, -2, -1);
  }
  squeeze(axis?: number | readonly number[]): Tensor {
    return ops.squeeze(this, axis);
  }
  unsqueeze(axis: number): Tensor {
    return ops.unsqueeze(this, axis);
  }
  expand(shape: Shape): Tensor {
    return ops.expand(this, shape);
  }
  broadcastTo(shape: Shape): Tensor {
    return ops.expand(this, shape);
  }
  slice(axis: number, start?: number, end?: number, step?: number): Tensor {
    return ops.slice(this, axis, start, end, step);
  }
  select(axis: number, index: number): Tensor {
    return ops.select(this, axis, index);
  }

  // ---- elementwise -----------------------------------------------------------------------
  neg(): Tensor { return ops.neg(this); }
  exp(): Tensor { return ops.exp(this); }
  log(): Tensor { return ops.log(this); }
  sqrt(): Tensor { return ops.sqrt(this); }
  rsqrt(): Tensor { return ops.rsqrt(this); }
  tanh(): Tensor { return ops.tanh(this); }
  sigmoid(): Tensor { return ops.sigmoid(this); }
  silu(): Tensor { return ops.silu(this); }
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor { return ops.gelu(this, approximate); }
  relu(): Tensor { return ops.relu(this); }
  abs(): Tensor { return ops.abs(this); }
  sin(): Tensor { return ops.sin(this); }
  cos(): Tensor { return ops.cos(this); }
  square(): Tensor { return ops.square(this); }
  sign(): Tensor { return ops.sign(this); }
  add(other: TensorOrScalar): Tensor { return ops.add(this, other); }
  sub(other: TensorOrScalar): Tensor { return ops.sub(this, other); }
  mul(other: TensorOrScalar): Tensor { return ops.mul(this, other); }
  div(other: TensorOrScalar): Tensor { return ops.div(this, other); }
  pow(other: TensorOrScalar): Tensor { return ops.pow(this, other); }
  maximum(other: TensorOrScalar): Tensor { return ops.maximum(this, other); }
  minimum(other: TensorOrScalar): Tensor { return ops.minimum(this, other); }
  eq(other: TensorOrScalar): Tensor { return ops.eq(this, other); }
  ne(other: TensorOrScalar): Tensor { return ops.ne(this, other); }
  lt(other: TensorOrScalar): Tensor { return ops.lt(this, other); }
  le(other: TensorOrScalar): Tensor { return ops.le(this, other); }
  gt(other: TensorOrScalar): Tensor { return ops.gt(this, other); }
  ge(other: TensorOrScalar): Tensor { return ops.ge(this, other); }
  clamp(min: number | null, max: number | null): Tensor { return ops.clamp(this, min, max); }

  // ---- reductions ------------------------------------------------------------------------
  sum(axes?: number | readonly number[], keepdim = false): Tensor { return ops.sum(this, axes, keepdim); }
  mean(axes?: number | readonly number[], keepdim = false): Tensor { return ops.mean(this, axes, keepdim); }
  max(axes?: number | readonly number[], keepdim = false): Tensor { return ops.max(this, axes, keepdim); }
  min(axes?: number | readonly number[], keepdim = false): Tensor { return ops.min(this, axes, keepdim); }
  var(axes?: number | readonly number[], options?: ops.VarOptions): Tensor { return ops.variance(this, axes, options); }

  // ---- linear algebra and friends --------------------------------------------------------
  matmul(other: Tensor): Tensor { return ops.matmul(this, other); }
  softmax(axis = -1): Tensor { return ops.softmax(this, axis); }
  logSoftmax(axis = -1): Tensor { return ops.logSoftmax(this, axis); }
}
