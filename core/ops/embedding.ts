/** Embedding lookup (a gather of table rows) with a gather-style gradient. */
import { attach } from '../autograd.ts';
import { ArgumentError, DtypeError, ShapeError, fmtShape } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { backendOf, dense, wrap } from './util.ts';

/**
 * indices (integer-valued float32, any shape) into weight [vocab, dim] -> [...indices.shape, dim].
 * The indices are read on the host to validate them: they are small and usually come from it.
 */
export function embedding(indices: Tensor, weight: Tensor): Tensor {
  const backend = backendOf('embedding', indices, weight);
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be [vocab, dim], got ${fmtShape(weight.shape)}`);
  const [vocab, dim] = weight.shape as [number, number];
  const idx = indices.toArray();
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (!Number.isInteger(v)) throw new DtypeError(`embedding: indices must be integers, got ${v} at position ${i}`);
    if (v < 0 || v >= vocab) throw new ArgumentError(`embedding: index ${v} at position ${i} is out of range for a vocabulary of ${vocab}`);
  }
  const is = dense(indices);
  const out = wrap(backend.gatherRows(dense(weight), is, idx.length, dim), [...indices.shape, dim]);
  return attach(out, 'embedding', [weight], (gy) => [wrap(backend.gatherRowsGrad(dense(gy), is, idx.length, vocab, dim), weight.shape)]);
}
