/**
 * The reference backend: plain TypeScript loops over ndarray storage. Simple enough to check
 * by reading, it is the ground truth every other backend is tested against. Accumulations
 * (sums, dot products, statistics) run in float64 whatever the storage precision.
 *
 * `precision: 'float64'` stores values in Float64Array: the gradient checker uses it so
 * finite differences are not drowned by float32 rounding (like torch's gradcheck on doubles).
 */
import ndarray from 'ndarray';
import type {
  AdamHyper, AdamState, Backend, BinaryOp, Conv2dGeometry, NormRowsResult, Pool2dGeometry, ReduceOp, Storage, StridedView, UnaryOp,
} from '../backend.ts';
import { ArgumentError } from '../errors.ts';
import { binaryFn, unaryDeriv, unaryFn } from '../math.ts';
import { sizeOf } from '../shape.ts';

type Values = Float32Array | Float64Array;

export class ReferenceStorage implements Storage {
  constructor(
    readonly backend: ReferenceBackend,
    /** A flat ndarray over the values; strided views are ndarrays over the same data. */
    readonly array: ndarray.NdArray<Values>,
  ) {}
  get size(): number {
    return this.array.size;
  }
  get data(): Values {
    return this.array.data;
  }
}

export interface ReferenceBackendOptions {
  precision?: 'float32' | 'float64';
}

export class ReferenceBackend implements Backend {
  readonly name: string;
  readonly precision: 'float32' | 'float64';

  constructor(options: ReferenceBackendOptions = {}) {
    this.precision = options.precision ?? 'float32';
    if (this.precision !== 'float32' && this.precision !== 'float64') {
      throw new ArgumentError(`ReferenceBackend: precision must be 'float32' or 'float64', got '${String(this.precision)}'`);
    }
    this.name = this.precision === 'float32' ? 'reference' : 'reference-f64';
  }

  private alloc(size: number): ReferenceStorage {
    const data = this.precision === 'float32' ? new Float32Array(size) : new Float64Array(size);
    return new ReferenceStorage(this, ndarray(data as Values, [size]));
  }

  private data(s: Storage): Values {
    if (!(s instanceof ReferenceStorage) || s.backend !== this) {
      throw new ArgumentError(`${this.name}: got a storage of backend '${s.backend?.name}'`);
    }
    return s.data;
  }

  /** An ndarray over a strided view, for kernels that walk an arbitrary layout. */
  private nd(v: StridedView): ndarray.NdArray<Values> {
    return ndarray(this.data(v.storage), [...v.shape], [...v.strides], v.offset);
  }

  // ---- memory --------------------------------------------------------------------------
  upload(values: ArrayLike<number>): Storage {
    const s = this.alloc(values.length);
    s.data.set(values);
    return s;
  }

  read(storage: Storage): Values {
    return this.data(storage).slice();
  }

  dispose(_storage: Storage): void {
    // Host memory: the garbage collector reclaims it.
  }

  // ---- layout --------------------------------------------------------------------------
  copy(view: StridedView): Storage {
    const src = this.nd(view);
    const out = this.alloc(sizeOf(view.shape));
    const o = out.data;
    forEachIndex(view.shape, src.stride, src.offset, (i, srcIndex) => {
      o[i] = src.data[srcIndex]!;
    });
    return out;
  }

  fill(size: number, value: number): Storage {
    const s = this.alloc(size);
    s.data.fill(value);
    return s;
  }

  concat(inputs: readonly Storage[], outer: number, sizes: readonly number[], inner: number): Storage {
    const total = sizes.reduce((a, b) => a + b, 0);
    const out = this.alloc(outer * total * inner);
    const o = out.data;
    let at = 0;
    inputs.forEach((s, k) => {
      const x = this.data(s);
      const block = sizes[k]! * inner;
      for (let i = 0; i < outer; i++) o.set(x.subarray(i * block, (i + 1) * block), i * total * inner + at);
      at += block;
    });
    return out;
  }

  pad(x: Storage, shape: readonly number[], pads: readonly (readonly [number, number])[], value: number): Storage {
    const outShape = shape.map((d, i) => d + pads[i]![0] + pads[i]![1]);
    const out = this.alloc(sizeOf(outShape));
    out.data.fill(value);
    const dst = ndarray(out.data, outShape).lo(...pads.map((p) => p[0])).hi(...shape);
    const src = this.data(x);
    forEachIndex(shape, dst.stride, dst.offset, (i, dstIndex) => {
      out.data[dstIndex] = src[i]!;
    });
    return out;
  }

  // ---- elementwise ---------------------------------------------------------------------
  unary(op: UnaryOp, x: Storage): Storage {
    const f = unaryFn[op];
    const a = this.data(x);
    const out = this.alloc(a.length);
    for (let i = 0; i < a.length; i++) out.data[i] = f(a[i]!);
    return out;
  }

  unaryGrad(op: UnaryOp, x: Storage, gy: Storage): Storage {
    const df = unaryDeriv[op];
    const a = this.data(x);
    const g = this.data(gy);
    const out = this.alloc(a.length);
    for (let i = 0; i < a.length; i++) out.data[i] = g[i]! * df(a[i]!);
    return out;
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView): Storage {
    const f = binaryFn[op];
    const A = this.nd(a);
    const B = this.nd(b);
    const out = this.alloc(sizeOf(a.shape));
    const o = out.data;
    forEachIndex2(a.shape, A.stride, A.offset, B.stride, B.offset, (i, ia, ib) => {
      o[i] = f(A.data[ia]!, B.data[ib]!);
    });
    return out;
  }

  where(cond: StridedView, a: StridedView, b: StridedView): Storage {
    const C = this.nd(cond);
    const A = this.copy(a) as ReferenceStorage;
    const B = this.copy(b) as ReferenceStorage;
    const out = this.alloc(sizeOf(cond.shape));
    forEachIndex(cond.shape, C.stride, C.offset, (i, ic) => {
      out.data[i] = C.data[ic] !== 0 ? A.data[i]! : B.data[i]!;
    });
    return out;
  }

  clamp(x: Storage, min: number, max: number): Storage {
    const a = this.data(x);
    const out = this.alloc(a.length);
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      out.data[i] = Number.isNaN(v) ? v : v < min ? min : v > max ? max : v;
    }
    return out;
  }

  // ---- reductions ----------------------------------------------------------------------
  reduceRows(op: ReduceOp, x: Storage, rows: number, cols: number): Storage {
    const a = this.data(x);
    const out = this.alloc(rows);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let acc = op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity;
      for (let c = 0; c < cols; c++) {
        const v = a[base + c]!;
        if (op === 'sum') acc += v;
        else if (Number.isNaN(v) || Number.isNaN(acc)) acc = NaN;
        else if (op === 'max' ? v > acc : v < acc) acc = v;
      }
      out.data[r] = acc;
    }
    return out;
  }

  // ---- dense ---------------------------------------------------------------------------
  matmul(a: Storage, b: Storage, batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean): Storage {
    const A = this.data(a);
    const B = this.data(b);
    const out = this.alloc(batch * m * n);
    // Element strides of A[i, p] and B[p, j] inside one batch.
    const [aI, aP] = transA ? [1, m] : [k, 1];
    const [bP, bJ] = transB ? [1, k] : [n, 1];
    for (let q = 0; q < batch; q++) {
      const aBase = q * m * k;
      const bBase = q * k * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p = 0; p < k; p++) acc += A[aBase + i * aI + p * aP]! * B[bBase + p * bP + j * bJ]!;
          out.data[(q * m + i) * n + j] = acc;
        }
      }
    }
    return out;
  }

  conv2d(x: Storage, w: Storage, g: Conv2dGeometry): Storage {
    const X = this.data(x);
    const W = this.data(w);
    const out = this.alloc(g.batch * g.outChannels * g.outHeight * g.outWidth);
    const cpg = g.inChannels / g.groups;
    const opg = g.outChannels / g.groups;
    let at = 0;
    for (let n = 0; n < g.batch; n++) {
      for (let o = 0; o < g.outChannels; o++) {
        const c0 = Math.floor(o / opg) * cpg;
        for (let oh = 0; oh < g.outHeight; oh++) {
          for (let ow = 0; ow < g.outWidth; ow++) {
            let acc = 0;
            for (let c = 0; c < cpg; c++) {
              for (let kh = 0; kh < g.kernelHeight; kh++) {
                const ih = oh * g.strideH - g.padH + kh * g.dilationH;
                if (ih < 0 || ih >= g.inHeight) continue;
                for (let kw = 0; kw < g.kernelWidth; kw++) {
                  const iw = ow * g.strideW - g.padW + kw * g.dilationW;
                  if (iw < 0 || iw >= g.inWidth) continue;
                  acc +=
                    X[((n * g.inChannels + c0 + c) * g.inHeight + ih) * g.inWidth + iw]! *
                    W[((o * cpg + c) * g.kernelHeight + kh) * g.kernelWidth + kw]!;
                }
              }
            }
            out.data[at++] = acc;
          }
        }
      }
    }
    return out;
  }

  conv2dGradInput(gy: Storage, w: Storage, g: Conv2dGeometry): Storage {
    const GY = this.data(gy);
    const W = this.data(w);
    const out = this.alloc(g.batch * g.inChannels * g.inHeight * g.inWidth);
    const cpg = g.inChannels / g.groups;
    const opg = g.outChannels / g.groups;
    let at = 0;
    for (let n = 0; n < g.batch; n++) {
      for (let ci = 0; ci < g.inChannels; ci++) {
        const grp = Math.floor(ci / cpg);
        const c = ci - grp * cpg;
        for (let ih = 0; ih < g.inHeight; ih++) {
          for (let iw = 0; iw < g.inWidth; iw++) {
            let acc = 0;
            for (let kh = 0; kh < g.kernelHeight; kh++) {
              const th = ih + g.padH - kh * g.dilationH;
              if (th < 0 || th % g.strideH !== 0) continue;
              const oh = th / g.strideH;
              if (oh >= g.outHeight) continue;
              for (let kw = 0; kw < g.kernelWidth; kw++) {
                const tw = iw + g.padW - kw * g.dilationW;
                if (tw < 0 || tw % g.strideW !== 0) continue;
                const ow = tw / g.strideW;
                if (ow >= g.outWidth) continue;
                for (let oo = 0; oo < opg; oo++) {
                  const o = grp * opg + oo;
                  acc +=
                    GY[((n * g.outChannels + o) * g.outHeight + oh) * g.outWidth + ow]! *
                    W[((o * cpg + c) * g.kernelHeight + kh) * g.kernelWidth + kw]!;
                }
              }
            }
            out.data[at++] = acc;
          }
        }
      }
    }
    return out;
  }

  conv2dGradWeight(x: Storage, gy: Storage, g: Conv2dGeometry): Storage {
    const X = this.data(x);
    const GY = this.data(gy);
    const cpg = g.inChannels / g.groups;
    const opg = g.outChannels / g.groups;
    const out = this.alloc(g.outChannels * cpg * g.kernelHeight * g.kernelWidth);
    let at = 0;
    for (let o = 0; o < g.outChannels; o++) {
      const c0 = Math.floor(o / opg) * cpg;
      for (let c = 0; c < cpg; c++) {
        for (let kh = 0; kh < g.kernelHeight; kh++) {
          for (let kw = 0; kw < g.kernelWidth; kw++) {
            let acc = 0;
            for (let n = 0; n < g.batch; n++) {
              for (let oh = 0; oh < g.outHeight; oh++) {
                const ih = oh * g.strideH - g.padH + kh * g.dilationH;
                if (ih < 0 || ih >= g.inHeight) continue;
                for (let ow = 0; ow < g.outWidth; ow++) {
                  const iw = ow * g.strideW - g.padW + kw * g.dilationW;
                  if (iw < 0 || iw >= g.inWidth) continue;
                  acc +=
                    X[((n * g.inChannels + c0 + c) * g.inHeight + ih) * g.inWidth + iw]! *
                    GY[((n * g.outChannels + o) * g.outHeight + oh) * g.outWidth + ow]!;
                }
              }
            }
            out.data[at++] = acc;
          }
        }
      }
    }
    return out;
  }

  // ---- spatial -------------------------------------------------------------------------
  upsampleNearest2d(x: Storage, planes: number, h: number, w: number, sh: number, sw: number): Storage {
    const X = this.data(x);
    const H = h * sh;
    const W = w * sw;
    const out = this.alloc(planes * H * W);
    let at = 0;
    for (let p = 0; p < planes; p++) {
      for (let y = 0; y < H; y++) {
        const row = (p * h + Math.floor(y / sh)) * w;
        for (let xx = 0; xx < W; xx++) out.data[at++] = X[row + Math.floor(xx / sw)]!;
      }
    }
    return out;
  }

  upsampleNearest2dGrad(gy: Storage, planes: number, h: number, w: number, sh: number, sw: number): Storage {
    const G = this.data(gy);
    const W = w * sw;
    const out = this.alloc(planes * h * w);
    let at = 0;
    for (let p = 0; p < planes; p++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          let acc = 0;
          for (let a = 0; a < sh; a++) {
            for (let b = 0; b < sw; b++) acc += G[(p * h * sh + i * sh + a) * W + j * sw + b]!;
          }
          out.data[at++] = acc;
        }
      }
    }
    return out;
  }

  /** The window of output (oh, ow) clipped to the input, and its divisor. */
  private poolWindow(g: Pool2dGeometry, oh: number, ow: number) {
    const h0 = oh * g.strideH - g.padH;
    const w0 = ow * g.strideW - g.padW;
    const h1 = Math.min(h0 + g.kernelH, g.inHeight + g.padH);
    const w1 = Math.min(w0 + g.kernelW, g.inWidth + g.padW);
    const padded = (h1 - h0) * (w1 - w0);
    const hs = Math.max(h0, 0);
    const ws = Math.max(w0, 0);
    const he = Math.min(h1, g.inHeight);
    const we = Math.min(w1, g.inWidth);
    const count = g.countIncludePad ? padded : (he - hs) * (we - ws);
    return { hs, ws, he, we, count };
  }

  avgPool2d(x: Storage, g: Pool2dGeometry): Storage {
    const X = this.data(x);
    const planes = g.batch * g.channels;
    const out = this.alloc(planes * g.outHeight * g.outWidth);
    let at = 0;
    for (let p = 0; p < planes; p++) {
      for (let oh = 0; oh < g.outHeight; oh++) {
        for (let ow = 0; ow < g.outWidth; ow++) {
          const { hs, ws, he, we, count } = this.poolWindow(g, oh, ow);
          let acc = 0;
          for (let i = hs; i < he; i++) for (let j = ws; j < we; j++) acc += X[(p * g.inHeight + i) * g.inWidth + j]!;
          out.data[at++] = acc / count;
        }
      }
    }
    return out;
  }

  avgPool2dGrad(gy: Storage, g: Pool2dGeometry): Storage {
    const G = this.data(gy);
    const planes = g.batch * g.channels;
    const acc = new Float64Array(planes * g.inHeight * g.inWidth);
    // Host code may scatter; GPU backends implement the same sum gather-style.
    for (let p = 0; p < planes; p++) {
      for (let oh = 0; oh < g.outHeight; oh++) {
        for (let ow = 0; ow < g.outWidth; ow++) {
          const { hs, ws, he, we, count } = this.poolWindow(g, oh, ow);
          const v = G[(p * g.outHeight + oh) * g.outWidth + ow]! / count;
          for (let i = hs; i < he; i++) for (let j = ws; j < we; j++) acc[(p * g.inHeight + i) * g.inWidth + j]! += v;
        }
      }
    }
    return this.upload(acc);
  }

  // ---- normalisation and softmax -------------------------------------------------------
  normRows(x: Storage, rows: number, cols: number, eps: number): NormRowsResult {
    const X = this.data(x);
    const y = this.alloc(rows * cols);
    const mean = this.alloc(rows);
    const rstd = this.alloc(rows);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += X[base + c]!;
      const m = s / cols;
      let v = 0;
      for (let c = 0; c < cols; c++) v += (X[base + c]! - m) ** 2;
      const rs = 1 / Math.sqrt(v / cols + eps);
      for (let c = 0; c < cols; c++) y.data[base + c] = (X[base + c]! - m) * rs;
      mean.data[r] = m;
      rstd.data[r] = rs;
    }
    return { y, mean, rstd };
  }

  normRowsGrad(xhat: Storage, gy: Storage, rstd: Storage, rows: number, cols: number): Storage {
    const XH = this.data(xhat);
    const G = this.data(gy);
    const RS = this.data(rstd);
    const out = this.alloc(rows * cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let sg = 0;
      let sgx = 0;
      for (let c = 0; c < cols; c++) {
        sg += G[base + c]!;
        sgx += G[base + c]! * XH[base + c]!;
      }
      const mg = sg / cols;
      const mgx = sgx / cols;
      for (let c = 0; c < cols; c++) out.data[base + c] = RS[r]! * (G[base + c]! - mg - XH[base + c]! * mgx);
    }
    return out;
  }

  softmaxRows(x: Storage, rows: number, cols: number, log: boolean): Storage {
    const X = this.data(x);
    const out = this.alloc(rows * cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let m = -Infinity;
      for (let c = 0; c < cols; c++) m = Math.max(m, X[base + c]!);
      if (m === -Infinity) m = 0; // a fully masked row: exp(-inf - 0) = 0, giving NaN like PyTorch
      let s = 0;
      for (let c = 0; c < cols; c++) s += Math.exp(X[base + c]! - m);
      const logS = Math.log(s);
      for (let c = 0; c < cols; c++) {
        out.data[base + c] = log ? X[base + c]! - m - logS : Math.exp(X[base + c]! - m) / s;
      }
    }
    return out;
  }

  softmaxRowsGrad(y: Storage, gy: Storage, rows: number, cols: number, log: boolean): Storage {
    const Y = this.data(y);
    const G = this.data(gy);
    const out = this.alloc(rows * cols);
    for (let r = 0; r < rows; r++) {
      const base = r * cols;
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += log ? G[base + c]! : G[base + c]! * Y[base + c]!;
      for (let c = 0; c < cols; c++) {
        const i = base + c;
        out.data[i] = log ? G[i]! - Math.exp(Y[i]!) * dot : Y[i]! * (G[i]! - dot);
      }
    }
    return out;
  }

  // ---- indexing ------------------------------------------------------------------------
  gatherRows(table: Storage, indices: Storage, count: number, dim: number): Storage {
    const T = this.data(table);
    const I = this.data(indices);
    const out = this.alloc(count * dim);
    for (let i = 0; i < count; i++) out.data.set(T.subarray(I[i]! * dim, I[i]! * dim + dim), i * dim);
    return out;
  }

  gatherRowsGrad(gy: Storage, indices: Storage, count: number, vocab: number, dim: number): Storage {
    const G = this.data(gy);
    const I = this.data(indices);
    const acc = new Float64Array(vocab * dim);
    for (let i = 0; i < count; i++) {
      const row = I[i]! * dim;
      for (let d = 0; d < dim; d++) acc[row + d]! += G[i * dim + d]!;
    }
    return this.upload(acc);
  }

  // ---- optimisers ----------------------------------------------------------------------
  adamStep(param: Storage, grad: Storage, m: Storage, v: Storage, h: AdamHyper): AdamState {
    const P = this.data(param);
    const G = this.data(grad);
    const M = this.data(m);
    const V = this.data(v);
    const out = { param: this.alloc(P.length), m: this.alloc(P.length), v: this.alloc(P.length) };
    const c1 = 1 - h.beta1 ** h.step;
    const c2 = 1 - h.beta2 ** h.step;
    for (let i = 0; i < P.length; i++) {
      let p = P[i]!;
      let g = G[i]!;
      if (h.decoupled) p -= h.lr * h.weightDecay * p;
      else g += h.weightDecay * p;
      const mi = h.beta1 * M[i]! + (1 - h.beta1) * g;
      const vi = h.beta2 * V[i]! + (1 - h.beta2) * g * g;
      out.param.data[i] = p - (h.lr * (mi / c1)) / (Math.sqrt(vi / c2) + h.eps);
      out.m.data[i] = mi;
      out.v.data[i] = vi;
    }
    return out;
  }
}

/** Calls fn(flatIndex, stridedIndex) for every element of `shape` in row-major order. */
function forEachIndex(
  shape: readonly number[], strides: readonly number[], offset: number, fn: (i: number, s: number) => void,
): void {
  forEachIndex2(shape, strides, offset, strides, offset, (i, s) => fn(i, s));
}

/** Walks two strided layouts of one shape together (an odometer over the dimensions). */
function forEachIndex2(
  shape: readonly number[],
  sa: readonly number[], oa: number,
  sb: readonly number[], ob: number,
  fn: (i: number, a: number, b: number) => void,
): void {
  const total = sizeOf(shape);
  if (total === 0) return;
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let a = oa;
  let b = ob;
  for (let i = 0; i < total; i++) {
    fn(i, a, b);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]!++;
      a += sa[d]!;
      b += sb[d]!;
      if (idx[d]! < shape[d]!) break;
      a -= sa[d]! * shape[d]!;
      b -= sb[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}
