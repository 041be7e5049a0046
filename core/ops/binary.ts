/**
 * Elementwise binary ops with NumPy broadcasting, plus where and clamp. Inputs are
 * broadcast as stride-0 views (no copies); gradients are summed back to each input's
 * shape by sumToShape.
 */
import { attach, noGrad } from '../autograd.ts';
import type { BinaryOp } from '../backend.ts';
import { ArgumentError } from '../errors.ts';
import { broadcastShapes, sameShape } from '../shape.ts';
import type { Tensor, TensorOrScalar } from '../tensor.ts';
import { asTensor, backendOf, dense, sumToShape, wrap } from './util.ts';
import { expand } from './views.ts';

/** Forward of a binary kernel over broadcast views, no graph. */
function compute(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  // Same shapes (the common case): the tensors are already the views the kernel takes.
  if (sameShape(a.shape, b.shape)) return wrap(a.backend.binary(op, a, b), a.shape);
  const shape = broadcastShapes(op, a.shape, b.shape);
  const [av, bv] = noGrad(() => [expand(a, shape), expand(b, shape)]);
  return wrap(a.backend.binary(op, av, bv), shape);
}

function operands(op: string, a: TensorOrScalar, b: TensorOrScalar): [Tensor, Tensor] {
  const backend = backendOf(op, a, b);
  return [asTensor(a, backend, op), asTensor(b, backend, op)];
}

type Rule = (a: Tensor, b: Tensor, out: Tensor, gy: Tensor) => [Tensor | null, Tensor | null];

function binaryOp(op: BinaryOp, rule: Rule) {
  return (x: TensorOrScalar, y: TensorOrScalar): Tensor => {
    const [a, b] = operands(op, x, y);
    const out = compute(op, a, b);
    return attach(out, op, [a, b], (gy) => {
      const [ga, gb] = rule(a, b, out, gy);
      return [
        ga && a.requiresGrad ? sumToShape(ga, a.shape) : null,
        gb && b.requiresGrad ? sumToShape(gb, b.shape) : null,
      ];
    });
  };
}

export const add = binaryOp('add', (_a, _b, _o, gy) => [gy, gy]);
export const sub = binaryOp('sub', (_a, b, _o, gy) => [gy, b.requiresGrad ? gy.neg() : null]);
export const mul = binaryOp('mul', (a, b, _o, gy) => [
  a.requiresGrad ? gy.mul(b) : null,
  b.requiresGrad ? gy.mul(a) : null,
]);
export const div = binaryOp('div', (a, b, out, gy) => [
  a.requiresGrad ? gy.div(b) : null,
  b.requiresGrad ? gy.mul(out).div(b).neg() : null,
]);
export const pow = binaryOp('pow', (a, b, out, gy) => [
  // d/da a^b = b a^(b-1); torch masks b = 0 to 0 (else 0^-1 gives 0 * inf = NaN at a = 0).
  a.requiresGrad ? where(b.eq(0), 0, gy.mul(b).mul(a.pow(b.sub(1)))) : null,
  // d/db a^b = a^b ln a; torch masks the 0^(b>=0) case to 0 rather than NaN.
  b.requiresGrad ? where(a.eq(0).mul(b.ge(0)), 0, gy.mul(out).mul(a.log())) : null,
]);
/** Ties send half the gradient each way (torch's rule). */
export const maximum = binaryOp('maximum', (a, b, _o, gy) => {
  const share = a.gt(b).add(a.eq(b).mul(0.5));
  return [a.requiresGrad ? gy.mul(share) : null, b.requiresGrad ? gy.mul(share.neg().add(1)) : null];
});
export const minimum = binaryOp('minimum', (a, b, _o, gy) => {
  const share = a.lt(b).add(a.eq(b).mul(0.5));
  return [a.requiresGrad ? gy.mul(share) : null, b.requiresGrad ? gy.mul(share.neg().add(1)) : null];
});

/** Comparisons give 1 or 0 and carry no gradient. */
function comparison(op: BinaryOp) {
  return (x: TensorOrScalar, y: TensorOrScalar): Tensor => {
    const [a, b] = operands(op, x, y);
    return compute(op, a, b);
  };
}
export const eq = comparison('eq');
export const ne = comparison('ne');
export const lt = comparison('lt');
export const le = comparison('le');
export const gt = comparison('gt');
export const ge = comparison('ge');

/** cond != 0 ? a : b, broadcasting all three. */
export function where(cond: TensorOrScalar, x: TensorOrScalar, y: TensorOrScalar): Tensor {
  const backend = backendOf('where', cond, x, y);
  const c = asTensor(cond, backend, 'where');
  const a = asTensor(x, backend, 'where');
  const b = asTensor(y, backend, 'where');
  const shape = broadcastShapes('where', c.shape, a.shape, b.shape);
  const [cv, av, bv] = noGrad(() => [expand(c, shape), expand(a, shape), expand(b, shape)]);
  const out = wrap(backend.where(cv, av, bv), shape);
  return attach(out, 'where', [a, b], (gy) => [
    a.requiresGrad ? sumToShape(where(c, gy, 0), a.shape) : null,
    b.requiresGrad ? sumToShape(where(c, 0, gy), b.shape) : null,
  ]);
}

/** Limits values to [min, max] (either may be null); the gradient passes where min <= x <= max. */
export function clamp(x: Tensor, min: number | null, max: number | null): Tensor {
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (Number.isNaN(lo) || Number.isNaN(hi)) throw new ArgumentError(`clamp: bounds must not be NaN, got min=${min}, max=${max}`);
  if (lo > hi) throw new ArgumentError(`clamp: min ${min} is greater than max ${max}`);
  const out = wrap(x.backend.clamp(dense(x), lo, hi), x.shape);
  return attach(out, 'clamp', [x], (gy) => [gy.mul(x.ge(lo).mul(x.le(hi)))]);
}
