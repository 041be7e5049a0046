/**
 * Scalar definitions of the elementwise functions and their derivatives, in float64.
 * The reference backend evaluates them; other backends port the same formulas to their
 * kernel language and are tested against these.
 */
import type { BinaryOp, UnaryOp } from './backend.ts';
import { ArgumentError } from './errors.ts';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_TANH_C = 0.044715;

/**
 * erf to about 1e-15: erf(x) = 2/sqrt(pi) e^(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)).
 * Every term is positive, so there is no cancellation; past |x| = 6 erf is 1 in float64.
 */
export function erf(x: number): number {
  if (typeof x !== 'number') throw new ArgumentError(`erf: the scalar erf takes a number, got ${typeof x} (for a tensor use erf(tensor) from the core index)`);
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  const x2 = ax * ax;
  let term = ax;
  let sum = ax;
  for (let n = 1; n < 400; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

export const unaryFn: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  tanh: Math.tanh,
  sigmoid,
  silu: (x) => x * sigmoid(x),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x))),
  relu: (x) => (x > 0 ? x : 0),
  abs: Math.abs,
  sin: Math.sin,
  cos: Math.cos,
  square: (x) => x * x,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
};

/** d f(x) / dx. Kinks (relu, abs at 0) take PyTorch's choice: 0. */
export const unaryDeriv: Record<UnaryOp, (x: number) => number> = {
  neg: () => -1,
  exp: Math.exp,
  log: (x) => 1 / x,
  sqrt: (x) => 0.5 / Math.sqrt(x),
  rsqrt: (x) => -0.5 / (x * Math.sqrt(x)),
  tanh: (x) => {
    const t = Math.tanh(x);
    return 1 - t * t;
  },
  sigmoid: (x) => {
    const s = sigmoid(x);
    return s * (1 - s);
  },
  silu: (x) => {
    const s = sigmoid(x);
    return s * (1 + x * (1 - s));
  },
  gelu: (x) => 0.5 * (1 + erf(x / Math.SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x),
  gelu_tanh: (x) => {
    const t = Math.tanh(SQRT_2_OVER_PI * (x + GELU_TANH_C * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_C * x * x);
  },
  relu: (x) => (x > 0 ? 1 : 0),
  abs: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  sin: Math.cos,
  cos: (x) => -Math.sin(x),
  square: (x) => 2 * x,
  sign: () => 0,
};

export const binaryFn: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b),
  minimum: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b),
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};
