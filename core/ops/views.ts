/**
 * Shape ops. Each returns a view sharing the input's storage when the layout allows it
 * (reshape of a compatible layout, permute, slice, expand, squeeze) and copies only when
 * it must. Gradients are views or pads of the incoming gradient.
 */
import { attach } from '../autograd.ts';
import { ArgumentError, ShapeError, fmtShape } from '../errors.ts';
import { type Shape, contiguousStrides, normAxis, sizeOf } from '../shape.ts';
import { Tensor } from '../tensor.ts';
import { pad } from './concat.ts';
import { sumToShape, wrap } from './util.ts';

/** A view of x's storage; it takes the (fresh) shape and strides arrays as they are. */
function viewOf(x: Tensor, shape: Shape, strides: readonly number[], offset: number): Tensor {
  return new Tensor(x.storage, shape, strides, offset, true);
}

export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  return attach(wrap(x.backend.copy(x), x.shape), 'contiguous', [x], (gy) => [gy]);
}

export function clone(x: Tensor): Tensor {
  return attach(wrap(x.backend.copy(x), x.shape), 'clone', [x], (gy) => [gy]);
}

/** Resolves one -1 and checks the element count; the error names both shapes. */
function resolveShape(op: string, x: Tensor, shape: Shape): number[] {
  if (!Array.isArray(shape)) throw new ArgumentError(`${op}: shape must be an array, got ${String(shape)}`);
  const out = shape.slice();
  let free = -1;
  let known = 1;
  for (let i = 0; i < out.length; i++) {
    const d = out[i]!;
    if (d === -1) {
      if (free >= 0) throw new ArgumentError(`${op}: only one dimension can be -1, got ${fmtShape(shape)}`);
      free = i;
    } else if (!Number.isInteger(d) || d < 0) {
      throw new ArgumentError(`${op}: invalid dimension ${d} in ${fmtShape(shape)}`);
    } else {
      known *= d;
    }
  }
  if (free >= 0) {
    if (known === 0 || x.size % known !== 0) {
      throw new ShapeError(`${op}: cannot reshape shape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(shape)}`);
    }
    out[free] = x.size / known;
    known *= out[free]!;
  }
  if (known !== x.size) {
    throw new ShapeError(`${op}: cannot reshape shape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(shape)}`);
  }
  return out;
}

/** Strides that view x's layout as `shape` without a copy, or null (torch's computeStride). */
function viewStrides(x: Tensor, shape: Shape): number[] | null {
  if (x.isContiguous()) return contiguousStrides(shape);
  const oldShape = x.shape;
  const oldStrides = x.strides;
  const strides = new Array<number>(shape.length);
  let viewD = shape.length - 1;
  let chunkBase = oldStrides[oldShape.length - 1]!;
  let tensorNumel = 1;
  let viewNumel = 1;
  for (let d = oldShape.length - 1; d >= 0; d--) {
    tensorNumel *= oldShape[d]!;
    if (d === 0 || (oldShape[d - 1] !== 1 && oldStrides[d - 1] !== tensorNumel * chunkBase)) {
      while (viewD >= 0 && (viewNumel < tensorNumel || shape[viewD] === 1)) {
        strides[viewD] = viewNumel * chunkBase;
        viewNumel *= shape[viewD]!;
        viewD--;
      }
      if (viewNumel !== tensorNumel) return null;
      if (d > 0) {
        chunkBase = oldStrides[d - 1]!;
        tensorNumel = 1;
        viewNumel = 1;
      }
    }
  }
  return viewD === -1 ? strides : null;
}

/** A view when the layout allows it, a copy otherwise (torch.reshape). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = resolveShape('reshape', x, shape);
  const strides = viewStrides(x, s);
  const out = strides ? viewOf(x, s, strides, x.offset) : wrap(x.backend.copy(x), s);
  return attach(out, 'reshape', [x], (gy) => [gy.reshape(x.shape)]);
}

/** Like reshape but never copies: an error when the layout cannot be viewed (torch.view). */
export function view(x: Tensor, shape: Shape): Tensor {
  const s = resolveShape('view', x, shape);
  const strides = viewStrides(x, s);
  if (!strides) {
    throw new ShapeError(
      `view: shape ${fmtShape(x.shape)} with strides ${fmtShape(x.strides)} cannot be viewed as ${fmtShape(s)}; use reshape() (it copies)`,
    );
  }
  return attach(viewOf(x, s, strides, x.offset), 'view', [x], (gy) => [gy.reshape(x.shape)]);
}

export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const a = normAxis(startAxis, x.ndim, 'flatten');
  const b = normAxis(endAxis, x.ndim, 'flatten');
  if (a > b) throw new ArgumentError(`flatten: startAxis ${startAxis} comes after endAxis ${endAxis}`);
  return reshape(x, [...x.shape.slice(0, a), sizeOf(x.shape.slice(a, b + 1)), ...x.shape.slice(b + 1)]);
}

export function permute(x: Tensor, axes: readonly number[]): Tensor {
  if (!Array.isArray(axes) || axes.length !== x.ndim) {
    throw new ArgumentError(`permute: need ${x.ndim} axes for shape ${fmtShape(x.shape)}, got [${String(axes)}]`);
  }
  const p = axes.map((a) => normAxis(a, x.ndim, 'permute'));
  if (new Set(p).size !== p.length) throw new ArgumentError(`permute: [${axes.join(', ')}] is not a permutation`);
  const inverse = new Array<number>(p.length);
  p.forEach((a, i) => (inverse[a] = i));
  const out = viewOf(x, p.map((a) => x.shape[a]!), p.map((a) => x.strides[a]!), x.offset);
  return attach(out, 'permute', [x], (gy) => [permute(gy, inverse)]);
}

export function transpose(x: Tensor, a: number, b: number): Tensor {
  const p = Array.from({ length: x.ndim }, (_, i) => i);
  const i = normAxis(a, x.ndim, 'transpose');
  const j = normAxis(b, x.ndim, 'transpose');
  [p[i], p[j]] = [p[j]!, p[i]!];
  return permute(x, p);
}

/** Removes size-1 axes: all of them, or the given ones (an axis of another size stays, as in torch). */
export function squeeze(x: Tensor, axis?: number | readonly number[]): Tensor {
  const drop =
    axis === undefined
      ? new Set(x.shape.flatMap((d, i) => (d === 1 ? [i] : [])))
      : new Set((typeof axis === 'number' ? [axis] : axis).map((a) => normAxis(a, x.ndim, 'squeeze')).filter((a) => x.shape[a] === 1));
  return reshape(x, x.shape.filter((_, i) => !drop.has(i)));
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, x.ndim + 1, 'unsqueeze');
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** Broadcasts to `shape` with stride-0 views (-1 keeps a dimension). */
export function expand(x: Tensor, shape: Shape): Tensor {
  if (!Array.isArray(shape) || shape.length < x.ndim) {
    throw new ShapeError(`expand: cannot expand shape ${fmtShape(x.shape)} to ${Array.isArray(shape) ? fmtShape(shape) : String(shape)}`);
  }
  const lead = shape.length - x.ndim;
  const outShape: number[] = [];
  const strides: number[] = [];
  shape.forEach((d, i) => {
    const src = i - lead;
    const have = src >= 0 ? x.shape[src]! : 1;
    const want = d === -1 && src >= 0 ? have : d;
    if (!Number.isInteger(want) || want < 0 || (have !== want && have !== 1)) {
      throw new ShapeError(`expand: cannot expand shape ${fmtShape(x.shape)} to ${fmtShape(shape)} (dimension ${i}: ${have} -> ${d})`);
    }
    outShape.push(want);
    strides.push(src >= 0 && have === want ? x.strides[src]! : 0);
  });
  const out = viewOf(x, outShape, strides, x.offset);
  return attach(out, 'expand', [x], (gy) => [sumToShape(gy, x.shape)]);
}

/** Elements start, start+step, ... below end along one axis (Python slice rules, step > 0). */
export function slice(x: Tensor, axis: number, start = 0, end?: number, step = 1): Tensor {
  const a = normAxis(axis, x.ndim, 'slice');
  const dim = x.shape[a]!;
  if (!Number.isInteger(step) || step <= 0) throw new ArgumentError(`slice: step must be a positive integer, got ${step}`);
  for (const [k, v] of [['start', start], ['end', end ?? dim]] as const) {
    if (!Number.isInteger(v)) throw new ArgumentError(`slice: ${k} must be an integer, got ${v}`);
  }
  const clampIndex = (i: number) => Math.min(Math.max(i < 0 ? i + dim : i, 0), dim);
  const s = clampIndex(start);
  const e = Math.max(clampIndex(end ?? dim), s);
  const count = Math.ceil((e - s) / step);
  const shape = [...x.shape];
  shape[a] = count;
  const strides = [...x.strides];
  strides[a] = x.strides[a]! * step;
  const out = viewOf(x, shape, strides, x.offset + s * x.strides[a]!);
  return attach(out, 'slice', [x], (gy) => [unslice(gy, a, dim, s, step)]);
}

/** Places gy's elements at start, start+step, ... of a zero axis of length dim. */
function unslice(gy: Tensor, axis: number, dim: number, start: number, step: number): Tensor {
  let g = gy;
  if (step > 1) {
    // [.., k, ..] -> [.., k, step, ..] with zeros after each element -> [.., k*step, ..]
    g = padAxis(g.unsqueeze(axis + 1), axis + 1, 0, step - 1);
    g = g.reshape([...gy.shape.slice(0, axis), gy.shape[axis]! * step, ...gy.shape.slice(axis + 1)]);
  }
  const room = dim - start;
  g = g.shape[axis]! > room ? slice(g, axis, 0, room) : padAxis(g, axis, 0, room - g.shape[axis]!);
  return padAxis(g, axis, start, 0);
}

function padAxis(x: Tensor, axis: number, before: number, after: number): Tensor {
  if (before === 0 && after === 0) return x;
  const pads = new Array<number>(2 * x.ndim).fill(0);
  const fromLast = x.ndim - 1 - axis;
  pads[2 * fromLast] = before;
  pads[2 * fromLast + 1] = after;
  return pad(x, pads);
}

/** One index along an axis, which is removed (x[..., i, ...]). */
export function select(x: Tensor, axis: number, index: number): Tensor {
  const a = normAxis(axis, x.ndim, 'select');
  const dim = x.shape[a]!;
  if (!Number.isInteger(index) || index < -dim || index >= dim) {
    throw new ArgumentError(`select: index ${index} is out of range for axis ${axis} of size ${dim}`);
  }
  const i = index < 0 ? index + dim : index;
  return squeeze(slice(x, a, i, i + 1), a);
}
