/**
 * Masking: maskedFill and the triangular parts tril / triu, all on `where` (values outside
 * the mask are passed through exactly, and the gradient is where's: zero where filled).
 */
import { ArgumentError, ShapeError, fmtShape } from '../errors.ts';
import { broadcastShapes, sameShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { where } from './binary.ts';
import { backendOf, wrap } from './util.ts';

/**
 * x with `value` wherever mask is non-zero (torch.masked_fill; our masks are 1/0 float
 * tensors, the comparisons' results). The mask broadcasts to x's shape; value is a number or
 * a one-element tensor (which then gets the gradient of the filled places).
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number | Tensor): Tensor {
  backendOf('maskedFill', x, mask, value);
  const shape = broadcastShapes('maskedFill', x.shape, mask.shape);
  if (!sameShape(shape, x.shape)) {
    throw new ShapeError(`maskedFill: mask ${fmtShape(mask.shape)} must broadcast to the input's shape ${fmtShape(x.shape)}`);
  }
  if (typeof value !== 'number' && value.size !== 1) {
    throw new ShapeError(`maskedFill: a tensor value must have one element, got shape ${fmtShape(value.shape)}`);
  }
  return where(mask, typeof value === 'number' ? value : value.reshape([]), x);
}

/** The 1/0 mask of a [rows, cols] triangle: col - row <= diagonal (lower) or >= diagonal (upper). */
function triangle(op: string, x: Tensor, diagonal: number, lower: boolean): Tensor {
  if (x.ndim < 2) throw new ShapeError(`${op}: input must have at least 2 dimensions, got ${fmtShape(x.shape)}`);
  if (!Number.isInteger(diagonal)) throw new ArgumentError(`${op}: diagonal must be an integer, got ${diagonal}`);
  const rows = x.shape[x.ndim - 2]!;
  const cols = x.shape[x.ndim - 1]!;
  const mask = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) mask[r * cols + c] = (lower ? c - r <= diagonal : c - r >= diagonal) ? 1 : 0;
  }
  return wrap(x.backend.upload(mask), [rows, cols]);
}

/** The lower triangle of the last two axes, on and below `diagonal` (torch.tril); the rest 0. */
export function tril(x: Tensor, diagonal = 0): Tensor {
  return where(triangle('tril', x, diagonal, true), x, 0);
}

/** The upper triangle of the last two axes, on and above `diagonal` (torch.triu); the rest 0. */
export function triu(x: Tensor, diagonal = 0): Tensor {
  return where(triangle('triu', x, diagonal, false), x, 0);
}
