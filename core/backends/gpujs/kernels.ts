/**
 * The gpu.js kernel sources of the backend, as plain data.
 *
 * Every function here returns a KernelSpec: a kernel source string, the constants it is
 * compiled with and its (1-D) output size. Nothing here touches gpu.js, so the same specs
 * run in-process (SyncExecutor) or in a worker thread (WorkerExecutor, for webgpu whose
 * kernels only answer with Promises).
 *
 * Rules the sources follow, each learnt from gpu.js 2.24:
 * - Loop bounds and geometry come from `this.constants`: a loop bounded by an argument is
 *   silently capped at loopMaxIterations (1000). Constants are frozen when a kernel is
 *   built, so the executor compiles one kernel per (name, constants, output) and caches it.
 * - Every tensor is a flat 1-D array indexed by a flat float index; outputs are 1-D with
 *   `this.thread.x` the flat output index.
 * - Integer division is `Math.floor((i + 0.5) / d)`: on GL backends indices are floats and
 *   `i / d` for exact multiples may land a hair below the integer; the +0.5 keeps the
 *   quotient at least 0.5/d away from any integer so floor is exact.
 * - Values that change every call (eps, learning rate, a fill value) are arguments, so they
 *   do not trigger a recompile.
 */
import type { BinaryOp, Conv2dGeometry, Pool2dGeometry, ReduceOp, UnaryOp } from '../../backend.ts';
import { sizeOf } from '../../shape.ts';

export interface KernelSpec {
  /** Names the source variant: two specs with the same name have the same source. */
  readonly name: string;
  readonly source: string;
  readonly constants: Readonly<Record<string, number>>;
  /** Number of output elements (the kernel's output is [output]). */
  readonly output: number;
  /**
   * Sizes of the array arguments, set by the backend when it runs the spec: gpu.js sizes a
   * kernel's arguments when it builds it (webasm throws on a change, GL recompiles), so
   * they are part of the kernel's identity.
   */
  readonly argSizes?: readonly number[];
  /**
   * A 2-D output [width, height] instead of [output] (same number of cells); the executor
   * hands the result back flat, row-major. Lets `this.thread.x` be one axis alone, which
   * the webasm backend's SIMD pass needs to keep the other axis's loads lane-uniform.
   */
  readonly output2d?: readonly [number, number];
  /** Values each thread returns (gpu.js `Array(n)` return types), stored interleaved. */
  readonly components?: 1 | 2 | 3 | 4;
}

const C = (name: string) => `this.constants.${name}`;

function spec(name: string, args: string[], body: string, constants: Record<string, number>, output: number): KernelSpec {
  return { name, source: `function(${args.join(', ')}) {\n${body}\n}`, constants, output };
}

/** Float-exact floor(i / d) for non-negative integers held in floats. */
const idiv = (i: string, d: string) => `Math.floor((${i} + 0.5) / ${d})`;

/**
 * Code that walks the flat output index `i` of a row-major shape (constants d0..d{r-1})
 * and accumulates, for each strided input p, its element index into `ix_p` from that
 * input's strides (constants s{p}_{k}) and offset (constant o{p}).
 */
function stridedIndexCode(rank: number, inputs: number): string {
  const lines = ['let rem = this.thread.x;'];
  for (let p = 0; p < inputs; p++) lines.push(`let ix${p} = ${C(`o${p}`)};`);
  for (let k = rank - 1; k >= 0; k--) {
    if (k > 0) {
      lines.push(`let q${k} = ${idiv('rem', C(`d${k}`))};`);
      lines.push(`let c${k} = rem - q${k} * ${C(`d${k}`)};`);
    } else {
      lines.push(`let c${k} = rem;`);
    }
    for (let p = 0; p < inputs; p++) lines.push(`ix${p} = ix${p} + c${k} * ${C(`s${p}_${k}`)};`);
    if (k > 0) lines.push(`rem = q${k};`);
  }
  return lines.join('\n');
}

export interface ViewGeometry {
  readonly strides: readonly number[];
  readonly offset: number;
}

function stridedConstants(shape: readonly number[], views: readonly ViewGeometry[]): Record<string, number> {
  const c: Record<string, number> = {};
  shape.forEach((d, k) => (c[`d${k}`] = d));
  views.forEach((v, p) => {
    c[`o${p}`] = v.offset;
    v.strides.forEach((s, k) => (c[`s${p}_${k}`] = s));
  });
  return c;
}

/** A rank-0 view is treated as rank 1 of size 1 so every source has at least one dimension. */
function atLeast1(shape: readonly number[], views: readonly ViewGeometry[]): [number[], ViewGeometry[]] {
  if (shape.length > 0) return [[...shape], [...views]];
  return [[1], views.map((v) => ({ strides: [0], offset: v.offset }))];
}

// ---- layout ----------------------------------------------------------------------------

export function identity(size: number): KernelSpec {
  return spec('identity', ['a'], 'return a[this.thread.x];', {}, size);
}

export function stridedCopy(shape: readonly number[], view: ViewGeometry): KernelSpec {
  const [s, v] = atLeast1(shape, [view]);
  return spec(`copy${s.length}`, ['a'], `${stridedIndexCode(s.length, 1)}\nreturn a[ix0];`, stridedConstants(s, v), sizeOf(s));
}

/** Output [outer, na + nb, inner] from a [outer, na, inner] and b [outer, nb, inner]. */
export function concat2(outer: number, na: number, nb: number, inner: number): KernelSpec {
  const body = `
let i = this.thread.x;
let total = ${C('NA')} + ${C('NB')};
let o = ${idiv('i', `(total * ${C('INNER')})`)};
let r = i - o * total * ${C('INNER')};
let mid = ${idiv('r', C('INNER'))};
let inn = r - mid * ${C('INNER')};
if (mid < ${C('NA')}) {
  return a[(o * ${C('NA')} + mid) * ${C('INNER')} + inn];
}
return b[(o * ${C('NB')} + (mid - ${C('NA')})) * ${C('INNER')} + inn];`;
  return spec('concat2', ['a', 'b'], body, { NA: na, NB: nb, INNER: inner }, outer * (na + nb) * inner);
}

/** Constant padding of a contiguous tensor: value is an argument. */
export function pad(shape: readonly number[], pads: readonly (readonly [number, number])[]): KernelSpec {
  const outShape = shape.map((d, k) => d + pads[k]![0] + pads[k]![1]);
  const c: Record<string, number> = {};
  const lines = ['let rem = this.thread.x;', 'let src = 0;', 'let inside = 1;'];
  let inStride = 1;
  for (let k = shape.length - 1; k >= 0; k--) {
    c[`d${k}`] = outShape[k]!;
    c[`b${k}`] = pads[k]![0];
    c[`n${k}`] = shape[k]!;
    c[`s${k}`] = inStride;
    inStride *= shape[k]!;
    if (k > 0) {
      lines.push(`let q${k} = ${idiv('rem', C(`d${k}`))};`, `let c${k} = rem - q${k} * ${C(`d${k}`)} - ${C(`b${k}`)};`);
    } else {
      lines.push(`let c${k} = rem - ${C(`b${k}`)};`);
    }
    lines.push(`if (c${k} < 0 || c${k} >= ${C(`n${k}`)}) { inside = 0; }`, `src = src + c${k} * ${C(`s${k}`)};`);
    if (k > 0) lines.push(`rem = q${k};`);
  }
  lines.push('if (inside == 0) { return value; }', 'return a[src];');
  return spec(`pad${shape.length}`, ['a', 'value'], lines.join('\n'), c, sizeOf(outShape));
}

// ---- elementwise -----------------------------------------------------------------------

/**
 * erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, under float32's own
 * rounding at the scale of gelu's outputs). Sets `erfv` from `z`.
 */
const ERF = `
let az = Math.abs(z);
let et = 1 / (1 + 0.3275911 * az);
let ep = ((((1.061405429 * et - 1.453152027) * et + 1.421413741) * et - 0.284496736) * et + 0.254829592) * et;
let erfv = 1 - ep * Math.exp(-az * az);
if (z < 0) { erfv = -erfv; }`;

/** tanh without overflow: exp of a non-positive number only. Sets `th` from `tz`. */
const TANH = `
let te = Math.exp(-2 * Math.abs(tz));
let th = (1 - te) / (1 + te);
if (tz < 0) { th = -th; }`;

/** Sigmoid without overflow. Sets `sg` from `sz`. */
const SIGMOID = `
let se = Math.exp(-Math.abs(sz));
let sg = 1 / (1 + se);
if (sz < 0) { sg = se / (1 + se); }`;

const GELU_TANH_K = Math.sqrt(2 / Math.PI);

/** Statements computing `y` from `x` for each unary op. */
const UNARY_BODY: Record<UnaryOp, string> = {
  neg: 'let y = -x;',
  exp: 'let y = Math.exp(x);',
  log: 'let y = Math.log(x);',
  sqrt: 'let y = Math.sqrt(x);',
  rsqrt: 'let y = 1 / Math.sqrt(x);',
  tanh: `let tz = x;${TANH}\nlet y = th;`,
  sigmoid: `let sz = x;${SIGMOID}\nlet y = sg;`,
  silu: `let sz = x;${SIGMOID}\nlet y = x * sg;`,
  gelu: `let z = x * ${Math.SQRT1_2};${ERF}\nlet y = 0.5 * x * (1 + erfv);`,
  gelu_tanh: `let tz = ${GELU_TANH_K} * (x + 0.044715 * x * x * x);${TANH}\nlet y = 0.5 * x * (1 + th);`,
  relu: 'let y = 0;\nif (x > 0) { y = x; }',
  abs: 'let y = Math.abs(x);',
  sin: 'let y = Math.sin(x);',
  cos: 'let y = Math.cos(x);',
  square: 'let y = x * x;',
  sign: 'let y = 0;\nif (x > 0) { y = 1; }\nif (x < 0) { y = -1; }',
};

/** Statements computing `d` = d op(x) / dx. */
const UNARY_DERIV: Record<UnaryOp, string> = {
  neg: 'let d = -1;',
  exp: 'let d = Math.exp(x);',
  log: 'let d = 1 / x;',
  sqrt: 'let d = 0.5 / Math.sqrt(x);',
  rsqrt: 'let d = -0.5 / (x * Math.sqrt(x));',
  tanh: `let tz = x;${TANH}\nlet d = 1 - th * th;`,
  sigmoid: `let sz = x;${SIGMOID}\nlet d = sg * (1 - sg);`,
  silu: `let sz = x;${SIGMOID}\nlet d = sg * (1 + x * (1 - sg));`,
  gelu: `let z = x * ${Math.SQRT1_2};${ERF}\nlet d = 0.5 * (1 + erfv) + x * ${1 / Math.sqrt(2 * Math.PI)} * Math.exp(-0.5 * x * x);`,
  gelu_tanh: `let tz = ${GELU_TANH_K} * (x + 0.044715 * x * x * x);${TANH}
let d = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * ${GELU_TANH_K} * (1 + 3 * 0.044715 * x * x);`,
  relu: 'let d = 0;\nif (x > 0) { d = 1; }',
  abs: 'let d = 0;\nif (x > 0) { d = 1; }\nif (x < 0) { d = -1; }',
  sin: 'let d = Math.cos(x);',
  cos: 'let d = -Math.sin(x);',
  square: 'let d = 2 * x;',
  sign: 'let d = 0;',
};

export function unary(op: UnaryOp, size: number): KernelSpec {
  return spec(`unary:${op}`, ['a'], `let x = a[this.thread.x];\n${UNARY_BODY[op]}\nreturn y;`, {}, size);
}

export function unaryGrad(op: UnaryOp, size: number): KernelSpec {
  return spec(`unaryGrad:${op}`, ['a', 'g'], `let x = a[this.thread.x];\n${UNARY_DERIV[op]}\nreturn g[this.thread.x] * d;`, {}, size);
}

/** Statements computing `y` from `u` and `v`. Comparisons give 1 or 0. */
const BINARY_BODY: Record<BinaryOp, string> = {
  add: 'let y = u + v;',
  sub: 'let y = u - v;',
  mul: 'let y = u * v;',
  div: 'let y = u / v;',
  // GLSL's pow is undefined for a negative base and for a zero one: integer exponents of
  // negative bases take their sign from the exponent's parity, fractional ones give NaN
  // (the square root of a negative number), 0^0 is 1 and 0 to a negative power +Infinity
  // (1 / 0), like Math.pow.
  pow: `let y = 1;
if (v != 0) {
  y = Math.pow(Math.abs(u), v);
  if (u < 0) {
    let half = v * 0.5;
    if (Math.floor(v) != v) { y = Math.sqrt(u); }
    if (Math.floor(half) != half && Math.floor(v) == v) { y = -y; }
  }
  if (u == 0 && v > 0) { y = 0; }
  if (u == 0 && v < 0) { y = 1 / Math.abs(u); }
}`,
  maximum: 'let y = v;\nif (u > v) { y = u; }',
  minimum: 'let y = v;\nif (u < v) { y = u; }',
  eq: 'let y = 0;\nif (u == v) { y = 1; }',
  ne: 'let y = 0;\nif (u != v) { y = 1; }',
  lt: 'let y = 0;\nif (u < v) { y = 1; }',
  le: 'let y = 0;\nif (u <= v) { y = 1; }',
  gt: 'let y = 0;\nif (u > v) { y = 1; }',
  ge: 'let y = 0;\nif (u >= v) { y = 1; }',
};

export function binary(op: BinaryOp, shape: readonly number[], a: ViewGeometry, b: ViewGeometry): KernelSpec {
  const [s, v] = atLeast1(shape, [a, b]);
  const body = `${stridedIndexCode(s.length, 2)}\nlet u = a[ix0];\nlet v = b[ix1];\n${BINARY_BODY[op]}\nreturn y;`;
  return spec(`binary:${op}:${s.length}`, ['a', 'b'], body, stridedConstants(s, v), sizeOf(s));
}

export function where(shape: readonly number[], cond: ViewGeometry, a: ViewGeometry, b: ViewGeometry): KernelSpec {
  const [s, v] = atLeast1(shape, [cond, a, b]);
  const body = `${stridedIndexCode(s.length, 3)}\nif (c[ix0] != 0) { return a[ix1]; }\nreturn b[ix2];`;
  return spec(`where:${s.length}`, ['c', 'a', 'b'], body, stridedConstants(s, v), sizeOf(s));
}

/** Infinite bounds are left out of the source (they would be NaN-prone uniforms on GL). */
export function clamp(size: number, hasMin: boolean, hasMax: boolean): KernelSpec {
  const lines = ['let x = a[this.thread.x];'];
  if (hasMin) lines.push('if (x < lo) { x = lo; }');
  if (hasMax) lines.push('if (x > hi) { x = hi; }');
  lines.push('return x;');
  return spec(`clamp:${hasMin}:${hasMax}`, ['a', 'lo', 'hi'], lines.join('\n'), {}, size);
}

// ---- reductions ------------------------------------------------------------------------

export function reduceRows(op: ReduceOp, rows: number, cols: number): KernelSpec {
  const step = op === 'sum' ? 'acc = acc + v;' : op === 'max' ? 'if (v > acc) { acc = v; }' : 'if (v < acc) { acc = v; }';
  const body = `
let base = this.thread.x * ${C('COLS')};
let acc = ${op === 'sum' ? '0' : 'a[base]'};
for (let c = ${op === 'sum' ? 0 : 1}; c < ${C('COLS')}; c++) {
  let v = a[base + c];
  ${step}
}
return acc;`;
  return spec(`reduce:${op}`, ['a'], body, { COLS: cols }, rows);
}

// ---- dense -----------------------------------------------------------------------------

/**
 * Batched matmul, one output per thread. The dot product is unrolled by four into four
 * independent accumulators: the loop-carried dependency chain is a quarter as long, which
 * both the wasm and the GLSL compilers turn into more instruction-level parallelism.
 */
export function matmul(batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean): KernelSpec {
  const [aI, aP] = transA ? [1, m] : [k, 1];
  const [bP, bJ] = transB ? [1, k] : [n, 1];
  const k4 = Math.floor(k / 4);
  const body = `
let i = this.thread.x;
let q = ${idiv('i', C('MN'))};
let r = i - q * ${C('MN')};
let row = ${idiv('r', C('N'))};
let col = r - row * ${C('N')};
let ab = q * ${C('MK')} + row * ${C('AI')};
let bb = q * ${C('KN')} + col * ${C('BJ')};
let s0 = 0;
let s1 = 0;
let s2 = 0;
let s3 = 0;
for (let p = 0; p < ${C('K4')}; p++) {
  let pa = ab + p * 4 * ${C('AP')};
  let pb = bb + p * 4 * ${C('BP')};
  s0 = s0 + a[pa] * b[pb];
  s1 = s1 + a[pa + ${C('AP')}] * b[pb + ${C('BP')}];
  s2 = s2 + a[pa + 2 * ${C('AP')}] * b[pb + 2 * ${C('BP')}];
  s3 = s3 + a[pa + 3 * ${C('AP')}] * b[pb + 3 * ${C('BP')}];
}
for (let t = 0; t < ${C('KT')}; t++) {
  let p = ${C('K4')} * 4 + t;
  s0 = s0 + a[ab + p * ${C('AP')}] * b[bb + p * ${C('BP')}];
}
return (s0 + s1) + (s2 + s3);`;
  return spec('matmul', ['a', 'b'], body, {
    MN: m * n, N: n, MK: m * k, KN: k * n, K4: k4, KT: k - 4 * k4, AI: aI, AP: aP, BP: bP, BJ: bJ,
  }, batch * m * n);
}

/**
 * Matmul for the webasm backend, shaped by what its codegen rewards (docs/kernels.md):
 * thread (x, y) computes the 4 outputs C[4y .. 4y+3, x] (an `Array(4)` return), so each
 * B value loaded is used 4 times; x alone varies across SIMD lanes, so the A loads are
 * lane-uniform (one scalar load + splat instead of a 4-lane gather); the k loop is unrolled
 * by 2. m must be a multiple of 4. The result comes out as [batch * m/4, n, 4] and needs a
 * permute to [batch, m, n] (matmulRows4Layout).
 */
export function matmulRows4(batch: number, m: number, k: number, n: number, transA: boolean, transB: boolean): KernelSpec {
  const [aI, aP] = transA ? [1, m] : [k, 1];
  const [bP, bJ] = transB ? [1, k] : [n, 1];
  const k2 = Math.floor(k / 2);
  const row = (j: number, p: string) => `a[a0 + ${j} * ${C('AI')} + ${p} * ${C('AP')}]`;
  const body = `
let x = this.thread.x;
let q = ${idiv('this.thread.y', C('M4'))};
let rb = this.thread.y - q * ${C('M4')};
let a0 = q * ${C('MK')} + rb * 4 * ${C('AI')};
let b0 = q * ${C('KN')} + x * ${C('BJ')};
let s0 = 0;
let s1 = 0;
let s2 = 0;
let s3 = 0;
for (let h = 0; h < ${C('K2')}; h++) {
  let p = h * 2;
  let p1 = p + 1;
  let bv = b[b0 + p * ${C('BP')}];
  let bw = b[b0 + p1 * ${C('BP')}];
  s0 = s0 + ${row(0, 'p')} * bv + ${row(0, 'p1')} * bw;
  s1 = s1 + ${row(1, 'p')} * bv + ${row(1, 'p1')} * bw;
  s2 = s2 + ${row(2, 'p')} * bv + ${row(2, 'p1')} * bw;
  s3 = s3 + ${row(3, 'p')} * bv + ${row(3, 'p1')} * bw;
}
for (let t = 0; t < ${C('KT')}; t++) {
  let p = ${C('K2')} * 2 + t;
  let bv = b[b0 + p * ${C('BP')}];
  s0 = s0 + ${row(0, 'p')} * bv;
  s1 = s1 + ${row(1, 'p')} * bv;
  s2 = s2 + ${row(2, 'p')} * bv;
  s3 = s3 + ${row(3, 'p')} * bv;
}
return [s0, s1, s2, s3];`;
  return {
    ...spec('matmulRows4', ['a', 'b'], body, {
      M4: m / 4, MK: m * k, KN: k * n, K2: k2, KT: k - 2 * k2, AI: aI, AP: aP, BP: bP, BJ: bJ,
    }, batch * m * n),
    output2d: [n, (batch * m) / 4],
    components: 4,
  };
}

/** The view that turns matmulRows4's [batch * m/4, n, 4] result into [batch, m, n]. */
export function matmulRows4Layout(batch: number, m: number, n: number): { shape: number[]; strides: number[]; offset: number } {
  // out[q, 4 rb + j, x] = raw[((q * m/4 + rb) * n + x) * 4 + j]; as [batch * m/4, 4, n]:
  return { shape: [(batch * m) / 4, 4, n], strides: [4 * n, 1, 4], offset: 0 };
}

function convConstants(g: Conv2dGeometry): Record<string, number> {
  return {
    N: g.batch, C: g.inChannels, H: g.inHeight, W: g.inWidth, O: g.outChannels, OH: g.outHeight, OW: g.outWidth,
    KH: g.kernelHeight, KW: g.kernelWidth, SH: g.strideH, SW: g.strideW, PH: g.padH, PW: g.padW,
    DH: g.dilationH, DW: g.dilationW, CPG: g.inChannels / g.groups, OPG: g.outChannels / g.groups,
  };
}

/**
 * Mixed-radix digits of a flat index, innermost first: each [name, constant] gets
 * `index mod constant` and the quotient carries on; the last quotient is named `rest`.
 * digits('i', [['ox', 'W'], ['oy', 'H']], 'p') unravels i over [P, H, W].
 */
function digits(index: string, radices: readonly (readonly [string, string])[], rest: string): string {
  let code = '';
  let carry = index;
  for (const [name, radix] of radices) {
    code += `\nlet q_${name} = ${idiv(carry, C(radix))};\nlet ${name} = ${carry} - q_${name} * ${C(radix)};`;
    carry = `q_${name}`;
  }
  return `${code}\nlet ${rest} = ${carry};`;
}

/** Unravels the flat output index into (n, oc, oy, ox) of a [N, CH, Y, X] tensor. */
function unravel4(ch: string, y: string, x: string): string {
  return `\nlet i = this.thread.x;${digits('i', [['ox', x], ['oy', y], ['oc', ch]], 'n')}`;
}

/**
 * The loops of a gather-style convolution gradient: for input pixel (oy, ox), every kernel tap
 * (kh, kw) whose output position (ohh, oww) exists and lands on the stride grid runs `inner`.
 */
function coveringWindows(inner: string): string {
  return `for (let kh = 0; kh < ${C('KH')}; kh++) {
  let th = oy + ${C('PH')} - kh * ${C('DH')};
  let ohh = ${idiv('th', C('SH'))};
  if (th >= 0 && ohh * ${C('SH')} == th && ohh < ${C('OH')}) {
    for (let kw = 0; kw < ${C('KW')}; kw++) {
      let tw = ox + ${C('PW')} - kw * ${C('DW')};
      let oww = ${idiv('tw', C('SW'))};
      if (tw >= 0 && oww * ${C('SW')} == tw && oww < ${C('OW')}) {${inner}
      }
    }
  }
}`;
}

/**
 * The loops of a direct convolution and of its weight gradient: `loopY` and `loopX` (the
 * kernel taps kh, kw or the output positions oh, ow, with their bounds) run, the input
 * position (ih, iw) = (outY, outX) * stride - padding + (kh, kw) * dilation follows, and
 * `inner` runs where it lies inside the input.
 */
function inputTaps(loopY: [string, string], loopX: [string, string], outY: string, outX: string, inner: string): string {
  return `for (let ${loopY[0]} = 0; ${loopY[0]} < ${C(loopY[1])}; ${loopY[0]}++) {
    let ih = ${outY} * ${C('SH')} - ${C('PH')} + kh * ${C('DH')};
    if (ih >= 0 && ih < ${C('H')}) {
      for (let ${loopX[0]} = 0; ${loopX[0]} < ${C(loopX[1])}; ${loopX[0]}++) {
        let iw = ${outX} * ${C('SW')} - ${C('PW')} + kw * ${C('DW')};
        if (iw >= 0 && iw < ${C('W')}) {
          ${inner}
        }
      }
    }
  }`;
}

export function conv2d(g: Conv2dGeometry): KernelSpec {
  const body = `${unravel4('O', 'OH', 'OW')}
let c0 = ${idiv('oc', C('OPG'))} * ${C('CPG')};
let acc = 0;
for (let c = 0; c < ${C('CPG')}; c++) {
  let xb = (n * ${C('C')} + c0 + c) * ${C('H')};
  let wb = (oc * ${C('CPG')} + c) * ${C('KH')};
  ${inputTaps(['kh', 'KH'], ['kw', 'KW'], 'oy', 'ox', `acc = acc + x[(xb + ih) * ${C('W')} + iw] * w[(wb + kh) * ${C('KW')} + kw];`)}
}
return acc;`;
  return spec('conv2d', ['x', 'w'], body, convConstants(g), g.batch * g.outChannels * g.outHeight * g.outWidth);
}

/**
 * im2col: the patches of x as a [groups, C/groups * KH * KW, N * OH * OW] matrix (zeros
 * where a window hangs over the padding), so a convolution becomes a batched matmul.
 * `transposed` lays it out [groups, N * OH * OW, C/groups * KH * KW] instead: the weight
 * gradient multiplies by it from the right, and webasm's matmul wants its right operand
 * row-major (lanes then read neighbouring addresses, not rows a whole L apart).
 */
export function im2col(g: Conv2dGeometry, transposed = false): KernelSpec {
  const unravel = transposed
    ? `
let gq = ${idiv('i', `(${C('L')} * ${C('CKK')})`)};
let r = i - gq * ${C('L')} * ${C('CKK')};
let l = ${idiv('r', C('CKK'))};
let t0 = gq * ${C('CKK')} + (r - l * ${C('CKK')});`
    : digits('i', [['l', 'L']], 't0');
  const body = `
let i = this.thread.x;${unravel}${digits('t0', [['kw', 'KW'], ['kh', 'KH'], ['c', 'CPG']], 'grp')}${digits('l', [['ow', 'OW'], ['oh', 'OH']], 'n')}
let ih = oh * ${C('SH')} - ${C('PH')} + kh * ${C('DH')};
let iw = ow * ${C('SW')} - ${C('PW')} + kw * ${C('DW')};
if (ih < 0 || ih >= ${C('H')} || iw < 0 || iw >= ${C('W')}) { return 0; }
return x[((n * ${C('C')} + grp * ${C('CPG')} + c) * ${C('H')} + ih) * ${C('W')} + iw];`;
  const L = g.batch * g.outHeight * g.outWidth;
  const CKK = (g.inChannels / g.groups) * g.kernelHeight * g.kernelWidth;
  return spec(`im2col:${transposed}`, ['x'], body, { ...convConstants(g), L, CKK }, g.inChannels * g.kernelHeight * g.kernelWidth * L);
}

/**
 * col2im, gather-style: each input pixel sums the entries of the patch-matrix gradient
 * ([groups, C/groups * KH * KW, N * OH * OW]) that were taken from it.
 */
export function col2im(g: Conv2dGeometry): KernelSpec {
  const body = `${unravel4('C', 'H', 'W')}
let grp = ${idiv('oc', C('CPG'))};
let c = oc - grp * ${C('CPG')};
let acc = 0;
${coveringWindows(`
  let row = grp * ${C('CPG')} * ${C('KH')} * ${C('KW')} + (c * ${C('KH')} + kh) * ${C('KW')} + kw;
  acc = acc + cols[row * ${C('L')} + (n * ${C('OH')} + ohh) * ${C('OW')} + oww];`)}
return acc;`;
  const L = g.batch * g.outHeight * g.outWidth;
  return spec('col2im', ['cols'], body, { ...convConstants(g), L }, g.batch * g.inChannels * g.inHeight * g.inWidth);
}

/** Gather-style input gradient: each input pixel sums the outputs whose window covers it. */
export function conv2dGradInput(g: Conv2dGeometry): KernelSpec {
  const body = `${unravel4('C', 'H', 'W')}
let grp = ${idiv('oc', C('CPG'))};
let c = oc - grp * ${C('CPG')};
let acc = 0;
${coveringWindows(`
  for (let oo = 0; oo < ${C('OPG')}; oo++) {
    let o = grp * ${C('OPG')} + oo;
    acc = acc + gy[((n * ${C('O')} + o) * ${C('OH')} + ohh) * ${C('OW')} + oww] *
      w[((o * ${C('CPG')} + c) * ${C('KH')} + kh) * ${C('KW')} + kw];
  }`)}
return acc;`;
  return spec('conv2dGradInput', ['gy', 'w'], body, convConstants(g), g.batch * g.inChannels * g.inHeight * g.inWidth);
}

export function conv2dGradWeight(g: Conv2dGeometry): KernelSpec {
  const body = `
let i = this.thread.x;${digits('i', [['kw', 'KW'], ['kh', 'KH'], ['c', 'CPG']], 'o')}
let c0 = ${idiv('o', C('OPG'))} * ${C('CPG')};
let acc = 0;
for (let n = 0; n < ${C('N')}; n++) {
  let xb = (n * ${C('C')} + c0 + c) * ${C('H')};
  let gb = (n * ${C('O')} + o) * ${C('OH')};
  ${inputTaps(['oh', 'OH'], ['ow', 'OW'], 'oh', 'ow', `acc = acc + x[(xb + ih) * ${C('W')} + iw] * gy[(gb + oh) * ${C('OW')} + ow];`)}
}
return acc;`;
  const cpg = g.inChannels / g.groups;
  return spec('conv2dGradWeight', ['x', 'gy'], body, convConstants(g), g.outChannels * cpg * g.kernelHeight * g.kernelWidth);
}

// ---- spatial ---------------------------------------------------------------------------

export function upsampleNearest2d(planes: number, h: number, w: number, sh: number, sw: number): KernelSpec {
  const body = `
let i = this.thread.x;${digits('i', [['ox', 'OW'], ['oy', 'OH']], 'p')}
let iy = ${idiv('oy', C('SH'))};
let ix = ${idiv('ox', C('SW'))};
return a[(p * ${C('H')} + iy) * ${C('W')} + ix];`;
  return spec('upsample', ['a'], body, { H: h, W: w, OH: h * sh, OW: w * sw, SH: sh, SW: sw }, planes * h * sh * w * sw);
}

export function upsampleNearest2dGrad(planes: number, h: number, w: number, sh: number, sw: number): KernelSpec {
  const body = `
let i = this.thread.x;${digits('i', [['ix', 'W'], ['iy', 'H']], 'p')}
let acc = 0;
for (let a = 0; a < ${C('SH')}; a++) {
  let rb = (p * ${C('OH')} + iy * ${C('SH')} + a) * ${C('OW')} + ix * ${C('SW')};
  for (let b = 0; b < ${C('SW')}; b++) {
    acc = acc + g[rb + b];
  }
}
return acc;`;
  return spec('upsampleGrad', ['g'], body, { H: h, W: w, OH: h * sh, OW: w * sw, SH: sh, SW: sw }, planes * h * w);
}

function poolConstants(g: Pool2dGeometry): Record<string, number> {
  return {
    H: g.inHeight, W: g.inWidth, OH: g.outHeight, OW: g.outWidth, KH: g.kernelH, KW: g.kernelW,
    SH: g.strideH, SW: g.strideW, PH: g.padH, PW: g.padW, CIP: g.countIncludePad ? 1 : 0,
    // How many outputs along an axis can cover one input position.
    TH: Math.ceil(g.kernelH / g.strideH), TW: Math.ceil(g.kernelW / g.strideW),
  };
}

/** The window of output (oh, ow) clipped to the input, and its divisor (the reference's poolWindow). */
const POOL_WINDOW = `
let h0 = oh * ${C('SH')} - ${C('PH')};
let w0 = ow * ${C('SW')} - ${C('PW')};
let h1 = Math.min(h0 + ${C('KH')}, ${C('H')} + ${C('PH')});
let w1 = Math.min(w0 + ${C('KW')}, ${C('W')} + ${C('PW')});
let hs = Math.max(h0, 0);
let ws = Math.max(w0, 0);
let he = Math.min(h1, ${C('H')});
let we = Math.min(w1, ${C('W')});
let count = (he - hs) * (we - ws);
if (${C('CIP')} == 1) { count = (h1 - h0) * (w1 - w0); }`;

export function avgPool2d(g: Pool2dGeometry): KernelSpec {
  const body = `
let i = this.thread.x;${digits('i', [['ow', 'OW'], ['oh', 'OH']], 'p')}
${POOL_WINDOW}
let acc = 0;
for (let kh = 0; kh < ${C('KH')}; kh++) {
  let ih = h0 + kh;
  if (ih >= hs && ih < he) {
    for (let kw = 0; kw < ${C('KW')}; kw++) {
      let iw = w0 + kw;
      if (iw >= ws && iw < we) {
        acc = acc + a[(p * ${C('H')} + ih) * ${C('W')} + iw];
      }
    }
  }
}
return acc / count;`;
  return spec('avgPool2d', ['a'], body, poolConstants(g), g.batch * g.channels * g.outHeight * g.outWidth);
}

/** Gather-style: each input pixel visits the (at most TH x TW) windows that can cover it. */
export function avgPool2dGrad(g: Pool2dGeometry): KernelSpec {
  const body = `
let i = this.thread.x;${digits('i', [['ix', 'W'], ['iy', 'H']], 'p')}
let ohLast = ${idiv(`(iy + ${C('PH')})`, C('SH'))};
let owLast = ${idiv(`(ix + ${C('PW')})`, C('SW'))};
let acc = 0;
for (let th = 0; th < ${C('TH')}; th++) {
  let oh = ohLast - th;
  if (oh >= 0 && oh < ${C('OH')}) {
    for (let tw = 0; tw < ${C('TW')}; tw++) {
      let ow = owLast - tw;
      if (ow >= 0 && ow < ${C('OW')}) {
        ${POOL_WINDOW}
        if (iy >= hs && iy < he && ix >= ws && ix < we) {
          acc = acc + g[(p * ${C('OH')} + oh) * ${C('OW')} + ow] / count;
        }
      }
    }
  }
}
return acc;`;
  return spec('avgPool2dGrad', ['g'], body, poolConstants(g), g.batch * g.channels * g.inHeight * g.inWidth);
}

// ---- normalisation and softmax ---------------------------------------------------------

/** Row means (pass 1 of normRows). */
export function rowMean(rows: number, cols: number): KernelSpec {
  const body = `
let base = this.thread.x * ${C('COLS')};
let acc = 0;
for (let c = 0; c < ${C('COLS')}; c++) { acc = acc + a[base + c]; }
return acc / ${C('COLS')};`;
  return spec('rowMean', ['a'], body, { COLS: cols }, rows);
}

/** Row 1/sqrt(biased variance + eps), two-pass around the means (pass 2 of normRows). */
export function rowRstd(rows: number, cols: number): KernelSpec {
  const body = `
let base = this.thread.x * ${C('COLS')};
let m = mean[this.thread.x];
let acc = 0;
for (let c = 0; c < ${C('COLS')}; c++) {
  let d = a[base + c] - m;
  acc = acc + d * d;
}
return 1 / Math.sqrt(acc / ${C('COLS')} + eps);`;
  return spec('rowRstd', ['a', 'mean', 'eps'], body, { COLS: cols }, rows);
}

/** (x - mean) * rstd, elementwise (pass 3 of normRows). */
export function normApply(rows: number, cols: number): KernelSpec {
  const body = `
let r = ${idiv('this.thread.x', C('COLS'))};
return (a[this.thread.x] - mean[r]) * rstd[r];`;
  return spec('normApply', ['a', 'mean', 'rstd'], body, { COLS: cols }, rows * cols);
}

/** Per row: mean of g (thread r < rows) and mean of g * xhat (thread rows + r). */
export function normGradStats(rows: number, cols: number): KernelSpec {
  const body = `
let t = this.thread.x;
let second = 0;
if (t >= ${C('ROWS')}) { second = 1; t = t - ${C('ROWS')}; }
let base = t * ${C('COLS')};
let acc = 0;
for (let c = 0; c < ${C('COLS')}; c++) {
  let gv = g[base + c];
  if (second == 1) { gv = gv * xh[base + c]; }
  acc = acc + gv;
}
return acc / ${C('COLS')};`;
  return spec('normGradStats', ['xh', 'g'], body, { ROWS: rows, COLS: cols }, 2 * rows);
}

export function normGradApply(rows: number, cols: number): KernelSpec {
  const body = `
let i = this.thread.x;
let r = ${idiv('i', C('COLS'))};
return rstd[r] * (g[i] - st[r] - xh[i] * st[${C('ROWS')} + r]);`;
  return spec('normGradApply', ['xh', 'g', 'rstd', 'st'], body, { ROWS: rows, COLS: cols }, rows * cols);
}

/** Per row: the max m (thread r) and the sum of exp(x - m) (computed after it, same thread). */
export function softmaxStats(rows: number, cols: number): KernelSpec {
  const body = `
let t = this.thread.x;
let second = 0;
if (t >= ${C('ROWS')}) { second = 1; t = t - ${C('ROWS')}; }
let base = t * ${C('COLS')};
let m = a[base];
for (let c = 1; c < ${C('COLS')}; c++) { m = Math.max(m, a[base + c]); }
if (second == 0) { return m; }
let s = 0;
for (let c = 0; c < ${C('COLS')}; c++) { s = s + Math.exp(a[base + c] - m); }
return s;`;
  return spec('softmaxStats', ['a'], body, { ROWS: rows, COLS: cols }, 2 * rows);
}

export function softmaxApply(rows: number, cols: number, log: boolean): KernelSpec {
  const body = `
let i = this.thread.x;
let r = ${idiv('i', C('COLS'))};
let z = a[i] - st[r];
${log ? `return z - Math.log(st[${C('ROWS')} + r]);` : `return Math.exp(z) / st[${C('ROWS')} + r];`}`;
  return spec(`softmaxApply:${log}`, ['a', 'st'], body, { ROWS: rows, COLS: cols }, rows * cols);
}

/** Per row: sum(g) for log-softmax, sum(g * y) for softmax. */
export function softmaxGradDot(rows: number, cols: number, log: boolean): KernelSpec {
  const body = `
let base = this.thread.x * ${C('COLS')};
let acc = 0;
for (let c = 0; c < ${C('COLS')}; c++) { acc = acc + g[base + c]${log ? '' : ' * y[base + c]'}; }
return acc;`;
  return spec(`softmaxGradDot:${log}`, ['y', 'g'], body, { COLS: cols }, rows);
}

export function softmaxGradApply(rows: number, cols: number, log: boolean): KernelSpec {
  const body = `
let i = this.thread.x;
let r = ${idiv('i', C('COLS'))};
${log ? 'return g[i] - Math.exp(y[i]) * dot[r];' : 'return y[i] * (g[i] - dot[r]);'}`;
  return spec(`softmaxGradApply:${log}`, ['y', 'g', 'dot'], body, { COLS: cols }, rows * cols);
}

// ---- indexing --------------------------------------------------------------------------

export function gatherRows(count: number, dim: number): KernelSpec {
  const body = `
let i = this.thread.x;
let r = ${idiv('i', C('DIM'))};
let d = i - r * ${C('DIM')};
return t[idx[r] * ${C('DIM')} + d];`;
  return spec('gatherRows', ['t', 'idx'], body, { DIM: dim }, count * dim);
}

/** Gather-style embedding gradient: row v, column d sums gy over positions whose index is v. */
export function gatherRowsGrad(count: number, vocab: number, dim: number): KernelSpec {
  const body = `
let i = this.thread.x;
let v = ${idiv('i', C('DIM'))};
let d = i - v * ${C('DIM')};
let acc = 0;
for (let p = 0; p < ${C('COUNT')}; p++) {
  if (idx[p] == v) { acc = acc + g[p * ${C('DIM')} + d]; }
}
return acc;`;
  return spec('gatherRowsGrad', ['g', 'idx'], body, { DIM: dim, COUNT: count }, vocab * dim);
}

// ---- optimisers ------------------------------------------------------------------------

/** The gradient Adam sees: g, plus wd * p for Adam's L2 form (DEC = 0). */
const ADAM_GRAD = `
let i = this.thread.x;
let gv = g[i];
if (${C('DEC')} == 0) { gv = gv + wd * p[i]; }`;

export function adamMoment1(size: number, decoupled: boolean): KernelSpec {
  return spec('adamM', ['p', 'g', 'm', 'beta1', 'wd'], `${ADAM_GRAD}\nreturn beta1 * m[i] + (1 - beta1) * gv;`, { DEC: decoupled ? 1 : 0 }, size);
}

export function adamMoment2(size: number, decoupled: boolean): KernelSpec {
  return spec('adamV', ['p', 'g', 'v', 'beta2', 'wd'], `${ADAM_GRAD}\nreturn beta2 * v[i] + (1 - beta2) * gv * gv;`, { DEC: decoupled ? 1 : 0 }, size);
}

export function adamParam(size: number, decoupled: boolean): KernelSpec {
  const body = `
let i = this.thread.x;
let pv = p[i];
if (${C('DEC')} == 1) { pv = pv - lr * wd * pv; }
return pv - (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);`;
  return spec('adamP', ['p', 'm', 'v', 'lr', 'wd', 'c1', 'c2', 'eps'], body, { DEC: decoupled ? 1 : 0 }, size);
}
