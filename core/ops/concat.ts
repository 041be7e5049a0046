/** Joining and splitting: concat, stack, split, chunk, and constant pad. */
import { attach } from '../autograd.ts';
import { ArgumentError, ShapeError, fmtShape } from '../errors.ts';
import { normAxis, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { backendOf, checkFinite, dense, wrap } from './util.ts';
import { slice, unsqueeze } from './views.ts';

export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!tensors?.length) throw new ArgumentError('concat: need at least one tensor');
  const backend = backendOf('concat', ...tensors);
  const first = tensors[0]!;
  const a = normAxis(axis, first.ndim, 'concat');
  for (const t of tensors) {
    const ok = t.ndim === first.ndim && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!ok) {
      throw new ShapeError(
        `concat: shapes ${tensors.map((x) => fmtShape(x.shape)).join(', ')} differ outside axis ${axis}`,
      );
    }
  }
  const sizes = tensors.map((t) => t.shape[a]!);
  const outer = sizeOf(first.shape.slice(0, a));
  const inner = sizeOf(first.shape.slice(a + 1));
  const shape = [...first.shape];
  shape[a] = sizes.reduce((x, y) => x + y, 0);
  const out = wrap(backend.concat(tensors.map(dense), outer, sizes, inner), shape);
  return attach(out, 'concat', tensors, (gy) => {
    let at = 0;
    return sizes.map((s, i) => {
      const g = tensors[i]!.requiresGrad ? slice(gy, a, at, at + s) : null;
      at += s;
      return g;
    });
  });
}

/** Joins along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!tensors?.length) throw new ArgumentError('stack: need at least one tensor');
  const first = tensors[0]!;
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((d, i) => d !== first.shape[i])) {
      throw new ShapeError(`stack: all shapes must be equal, got ${tensors.map((x) => fmtShape(x.shape)).join(', ')}`);
    }
  }
  const a = normAxis(axis, first.ndim + 1, 'stack');
  return concat(tensors.map((t) => unsqueeze(t, a)), a);
}

/** Views of consecutive pieces: of `size` each (the last may be shorter), or of the listed sizes. */
export function split(x: Tensor, sizeOrSizes: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis(axis, x.ndim, 'split');
  const dim = x.shape[a]!;
  let sizes: number[];
  if (typeof sizeOrSizes === 'number') {
    if (!Number.isInteger(sizeOrSizes) || sizeOrSizes <= 0) throw new ArgumentError(`split: size must be a positive integer, got ${sizeOrSizes}`);
    sizes = [];
    for (let at = 0; at < dim; at += sizeOrSizes) sizes.push(Math.min(sizeOrSizes, dim - at));
  } else {
    sizes = [...sizeOrSizes];
    if (sizes.some((s) => !Number.isInteger(s) || s < 0) || sizes.reduce((p, q) => p + q, 0) !== dim) {
      throw new ArgumentError(`split: sizes [${sizes.join(', ')}] must be integers >= 0 summing to ${dim} (axis ${axis} of ${fmtShape(x.shape)})`);
    }
  }
  let at = 0;
  return sizes.map((s) => {
    const piece = slice(x, a, at, at + s);
    at += s;
    return piece;
  });
}

/** `chunks` pieces of ceil(dim / chunks) (torch.chunk; fewer when the axis is short). */
export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  if (!Number.isInteger(chunks) || chunks <= 0) throw new ArgumentError(`chunk: chunks must be a positive integer, got ${chunks}`);
  const a = normAxis(axis, x.ndim, 'chunk');
  return split(x, Math.max(1, Math.ceil(x.shape[a]! / chunks)), a);
}

/**
 * Constant padding, torch.nn.functional.pad style: `pads` lists (before, after) pairs
 * starting from the LAST axis: [left, right, top, bottom, ...].
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (!Array.isArray(pads) || pads.length % 2 !== 0 || pads.length / 2 > x.ndim) {
    throw new ArgumentError(`pad: pads must hold (before, after) pairs for at most ${x.ndim} axes, got [${String(pads)}]`);
  }
  if (pads.some((p) => !Number.isInteger(p) || p < 0)) throw new ArgumentError(`pad: pads must be integers >= 0, got [${pads.join(', ')}]`);
  checkFinite('pad', 'value', value);
  const perAxis: [number, number][] = x.shape.map(() => [0, 0]);
  for (let k = 0; k < pads.length / 2; k++) perAxis[x.ndim - 1 - k] = [pads[2 * k]!, pads[2 * k + 1]!];
  const shape = x.shape.map((d, i) => d + perAxis[i]![0] + perAxis[i]![1]);
  const out = wrap(x.backend.pad(dense(x), x.shape, perAxis, value), shape);
  return attach(out, 'pad', [x], (gy) => {
    let g = gy;
    perAxis.forEach(([before], i) => {
      if (before || perAxis[i]![1]) g = slice(g, i, before, before + x.shape[i]!);
    });
    return [g];
  });
}
