/**
 * matmul with torch.matmul's rules: 1-D operands are promoted (and the added axis removed),
 * leading batch axes broadcast. One fused kernel does the batched product; the gradients
 * reuse it with transposed operands, so no transpose is ever materialised.
 */
import { attach, noGrad } from '../autograd.ts';
import type { Storage } from '../backend.ts';
import { ShapeError, fmtShape } from '../errors.ts';
import { broadcastShapes, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { backendOf, dense, sumToShape, wrap } from './util.ts';
import { expand } from './views.ts';

/** A [batch, rows, cols] operand: its storage, and whether it is stored transposed. */
function operand(t: Tensor, batchShape: readonly number[]): { storage: Storage; trans: boolean } {
  const r = t.shape[t.ndim - 2]!;
  const c = t.shape[t.ndim - 1]!;
  const full = hasBatchShape(t, batchShape) ? t : noGrad(() => expand(t, [...batchShape, r, c]));
  // A transposed view of a dense block (x.mT) is read as is, with the trans flag.
  const n = full.ndim;
  const batchDense = full.shape.slice(0, n - 2).every((d, i) => d === 1 || full.strides[i] === sizeOf(full.shape.slice(i + 1)));
  if (!full.isContiguous() && batchDense && full.strides[n - 2] === 1 && (c === 1 || full.strides[n - 1] === r) && full.offset === 0 && full.storage.size === full.size) {
    return { storage: full.storage, trans: true };
  }
  return { storage: dense(full), trans: false };
}

/** Whether t's leading axes already are batchShape (no broadcast view needed). */
function hasBatchShape(t: Tensor, batchShape: readonly number[]): boolean {
  if (t.ndim - 2 !== batchShape.length) return false;
  for (let i = 0; i < batchShape.length; i++) if (t.shape[i] !== batchShape[i]) return false;
  return true;
}

export function matmul(x: Tensor, y: Tensor): Tensor {
  const backend = backendOf('matmul', x, y);
  if (x.ndim === 0 || y.ndim === 0) {
    throw new ShapeError(`matmul: both operands need at least 1 dimension, got ${fmtShape(x.shape)} and ${fmtShape(y.shape)}`);
  }
  const a = x.ndim === 1 ? x.reshape([1, x.shape[0]!]) : x;
  const b = y.ndim === 1 ? y.reshape([y.shape[0]!, 1]) : y;
  const m = a.shape[a.ndim - 2]!;
  const k = a.shape[a.ndim - 1]!;
  const n = b.shape[b.ndim - 1]!;
  if (b.shape[b.ndim - 2] !== k) {
    throw new ShapeError(`matmul: shapes ${fmtShape(x.shape)} and ${fmtShape(y.shape)} do not chain (inner dimensions ${k} vs ${b.shape[b.ndim - 2]})`);
  }
  const batchShape = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = sizeOf(batchShape);
  const A = operand(a, batchShape);
  const B = operand(b, batchShape);
  let shape = [...batchShape, m, n];
  const out3 = wrap(backend.matmul(A.storage, B.storage, batch, m, k, n, A.trans, B.trans), shape);
  if (x.ndim === 1) shape = shape.filter((_, i) => i !== shape.length - 2);
  if (y.ndim === 1) shape = shape.slice(0, -1);
  const out = shape.length === out3.ndim ? out3 : out3.reshape(shape);
  return attach(out, 'matmul', [x, y], (gyOut) => {
    const gy = dense(gyOut.reshape([...batchShape, m, n]));
    // dA = gy B^T and dB = A^T gy, each summed over the batch axes its operand was broadcast on.
    const ga = x.requiresGrad
      ? sumToShape(wrap(backend.matmul(gy, B.storage, batch, m, n, k, false, !B.trans), [...batchShape, m, k]), a.shape).reshape(x.shape)
      : null;
    const gb = y.requiresGrad
      ? sumToShape(wrap(backend.matmul(A.storage, gy, batch, k, m, n, !A.trans, false), [...batchShape, k, n]), b.shape).reshape(y.shape)
      : null;
    return [ga, gb];
  });
}
