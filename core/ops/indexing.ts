/**
 * Picking elements by integer index tensors: indexSelect (whole slices along an axis) and
 * gather (one element per index, torch.gather). Both run on the row-gather kernels behind
 * embedding (gatherRows and its gather-style gradient), so every backend has them. Indices
 * are integer-valued float32 tensors, read on the host to validate them (like embedding).
 */
import { attach } from '../autograd.ts';
import { ArgumentError, DtypeError, ShapeError, fmtShape } from '../errors.ts';
import { contiguousStrides, normAxis, sizeOf } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { embedding } from './embedding.ts';
import { backendOf, dense, wrap } from './util.ts';
import { permute } from './views.ts';

/** The index values, checked to be integers in [0, dim) (torch refuses negative ones here too). */
function readIndices(op: string, index: Tensor, dim: number, axis: number): Float64Array {
  if (!(index instanceof Tensor)) throw new ArgumentError(`${op}: index must be a Tensor, got ${typeof index}`);
  const values = index.toFloat64Array();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isInteger(v)) throw new DtypeError(`${op}: index must hold integers, got ${v} at position ${i}`);
    if (v < 0 || v >= dim) throw new ArgumentError(`${op}: index ${v} at position ${i} is out of range for axis ${axis} of size ${dim}`);
  }
  return values;
}

/** The slices of x at `index` (1-D) along `axis` (torch.index_select); the gradient sums repeats. */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  backendOf('indexSelect', x, index);
  const a = normAxis(axis, Math.max(x.ndim, 1), 'indexSelect');
  if (index.ndim > 1) throw new ShapeError(`indexSelect: index must be 0-D or 1-D, got shape ${fmtShape(index.shape)}`);
  if (x.ndim === 0) throw new ShapeError('indexSelect: the input must have at least one axis');
  const idx = readIndices('indexSelect', index, x.shape[a]!, axis);
  // Move the axis first and select rows of [dim, rest]: embedding's kernels with its gradient.
  const order = [a, ...x.shape.map((_, i) => i).filter((i) => i !== a)];
  const moved = permute(x, order);
  const rows = moved.reshape([x.shape[a]!, sizeOf(moved.shape.slice(1))]);
  const picked = embedding(wrap(x.backend.upload(idx), [idx.length]), rows).reshape([idx.length, ...moved.shape.slice(1)]);
  const inverse = order.map((_, i) => order.indexOf(i));
  return permute(picked, inverse);
}

/**
 * out[i][j][k] = x[index[i][j][k]][j][k] for axis 0, and so on (torch.gather): index has x's
 * rank and no larger a size than x on the other axes; the result has index's shape. The
 * gradient adds each output's gradient into the element it was taken from (scatter-add).
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const backend = backendOf('gather', x, index);
  const rank = Math.max(x.ndim, 1);
  const a = normAxis(axis, rank, 'gather');
  const xShape = x.ndim === 0 ? [1] : x.shape;
  const iShape = index.ndim === 0 ? [1] : index.shape;
  if (iShape.length !== xShape.length || iShape.some((d, i) => i !== a && d > xShape[i]!)) {
    throw new ShapeError(`gather: index ${fmtShape(index.shape)} must have the rank of input ${fmtShape(x.shape)} and no larger a size on axes other than ${axis}`);
  }
  const idx = readIndices('gather', index, xShape[a]!, axis);
  // Flat offsets into x (contiguous): index i's coordinates, with axis a replaced by its value.
  const xStrides = contiguousStrides(xShape);
  const iStrides = contiguousStrides(iShape);
  const flat = new Float64Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    let rem = i;
    let at = 0;
    for (let d = 0; d < iShape.length; d++) {
      const c = Math.floor(rem / iStrides[d]!);
      rem -= c * iStrides[d]!;
      at += (d === a ? idx[i]! : c) * xStrides[d]!;
    }
    flat[i] = at;
  }
  const offsets = backend.upload(flat);
  const xs = dense(x);
  const out = wrap(backend.gatherRows(xs, offsets, flat.length, 1), index.shape);
  return attach(out, 'gather', [x], (gy) => [wrap(backend.gatherRowsGrad(dense(gy), offsets, flat.length, x.size, 1), x.shape)]);
}
