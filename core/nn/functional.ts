/** Functional pieces the layers share (torch.nn.functional). */
import { ShapeError, fmtShape } from '../errors.ts';
import { where } from '../ops/index.ts';
import type { Tensor } from '../tensor.ts';

export interface AttentionOptions {
  /**
   * Which keys each query may attend to: broadcastable to [..., Lq, Lk]; nonzero = attend,
   * 0 = masked (torch's boolean attn_mask). A fully masked row attends uniformly, not NaN.
   */
  mask?: Tensor | null;
  /** Default 1/sqrt(head dim). */
  scale?: number;
}

/** A finite "minus infinity": keeps fully masked rows finite (uniform) instead of NaN. */
const MASKED_SCORE = -1e30;

/** softmax(q k^T * scale [masked]) v, for q [..., Lq, D], k [..., Lk, D], v [..., Lk, Dv]. */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor {
  const d = q.shape[q.ndim - 1]!;
  if (k.shape[k.ndim - 1] !== d || k.shape[k.ndim - 2] !== v.shape[v.ndim - 2]) {
    throw new ShapeError(`scaledDotProductAttention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} do not fit (q and k share the last axis, k and v the key axis)`);
  }
  const scale = options.scale ?? 1 / Math.sqrt(d);
  let scores = q.matmul(k.mT).mul(scale);
  if (options.mask) scores = where(options.mask, scores, MASKED_SCORE); // where() takes any nonzero as true
  return scores.softmax(-1).matmul(v);
}
