/**
 * Every kernel of the gpu.js backend against the reference backend, on every mode, by
 * fast-check properties over random shapes (odd sizes, size 1, broadcasting, reductions
 * past gpu.js's 1000-iteration loop cap), forward and backward through the Tensor API.
 * Runs per property are few: each new shape compiles new kernels, and the machine is small.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  BINARY_OPS, type BinaryOp, Tensor, UNARY_OPS, type UnaryOp,
  avgPool2d, concat, conv2d, embedding, groupNorm, layerNorm, pad, rand, randint, randn, upsampleNearest2d, where,
} from '../../core/index.ts';
import { nativeBackend, nativeLabel, nativeSkip } from '../native/suite.ts';
import { broadcastableShapes, convGeometries, seeds, shapes } from '../../core/testing/index.ts';
import { MODES, backendFor, compareWithReference } from './harness.ts';

/**
 * Runs per property: GPU modes compile a shader per new shape (tens of ms each on a software
 * driver), so they get fewer; GPUJS_RUNS=n asks for n everywhere (a deeper hunt).
 */
const runsFor = (mode: string) => ({ numRuns: Number(process.env.GPUJS_RUNS) || (mode === 'headlessgl' ? 1 : mode === 'cpu' || mode === 'webasm' ? 6 : 3) });
const shapeArb = shapes();
const seedArb = seeds();

/** Inputs inside each unary op's domain (log, sqrt, rsqrt need positive values). */
function unaryInput(op: UnaryOp, shape: number[], seed: number): Tensor {
  const positive = op === 'log' || op === 'sqrt' || op === 'rsqrt';
  return (positive ? rand(shape, { seed, low: 0.1, high: 4 }) : randn(shape, { seed, std: 2 })).requiresGrad_();
}

/**
 * gelu_tanh's gradient for x far below zero is (1 + tanh u)(1/2 + x u') with 1 + tanh u below
 * float32's half-ulp of 1 (6e-8), so a GPU's f32 tanh rounds it to exactly 0 while the reference
 * keeps it: with |x| up to ~8 (randn std 2) and |gy| up to ~4 that is up to ~1.5e-5 absolute.
 */
const GELU_TANH_ATOL = 2e-5;

const COMPARISONS = new Set<BinaryOp>(['eq', 'ne', 'lt', 'le', 'gt', 'ge']);

function binaryCall(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  return (a as unknown as Record<BinaryOp, (o: Tensor) => Tensor>)[op].call(a, b);
}

/** Every gpu.js variant, then the native backend (no compile cost per shape: more runs). */
const SUITES = [
  ...MODES.map((mode) => ({ label: `gpu.js ${mode}`, skip: false, make: () => backendFor(mode), runs: runsFor(mode) })),
  { label: nativeLabel, skip: nativeSkip, make: () => nativeBackend(), runs: { numRuns: Number(process.env.GPUJS_RUNS) || 25 } },
];

describe.each(SUITES)('$label against the reference', ({ skip, make, runs }) => {
  if (skip) {
    it.skip('(not built here)', () => {});
    return;
  }
  const backend = make();
  const RUNS = runs;

  it('unary ops and their gradients', () => {
    fc.assert(
      fc.property(shapeArb, seedArb, (shape, seed) => {
        for (const op of UNARY_OPS) {
          compareWithReference(backend, () => {
            const x = unaryInput(op, shape, seed);
            const y = op === 'gelu_tanh' ? x.gelu('tanh') : (x as unknown as Record<string, () => Tensor>)[op]!.call(x);
            y.mul(randn(shape, { seed: seed + 1 })).sum().backward();
            return [y, x.grad];
          }, { rtol: 2e-5, atol: op === 'gelu_tanh' ? GELU_TANH_ATOL : 2e-6, reduction: 1 }, `unary ${op} ${JSON.stringify(shape)}`);
        }
      }),
      RUNS,
    );
  });

  it('broadcasting binary ops and their gradients', () => {
    fc.assert(
      fc.property(broadcastableShapes(), seedArb, ([s1, s2], seed) => {
        for (const op of BINARY_OPS) {
          compareWithReference(backend, () => {
            // pow: positive bases (a negative base to a fractional power is NaN everywhere).
            const a = (op === 'pow' ? rand([...s1], { seed, low: 0.5, high: 2 }) : randn([...s1], { seed })).requiresGrad_();
            const b = (op === 'div' ? rand([...s2], { seed: seed + 1, low: 0.5, high: 2 }) : randn([...s2], { seed: seed + 1 })).requiresGrad_();
            const y = binaryCall(op, a, b);
            if (COMPARISONS.has(op)) return [y];
            y.mul(randn(y.shape, { seed: seed + 2 })).sum().backward();
            return [y, a.grad, b.grad];
          }, { rtol: 2e-5, reduction: 25 }, `binary ${op} ${JSON.stringify(s1)} ${JSON.stringify(s2)}`);
        }
      }),
      RUNS,
    );
  });

  it('where, clamp and strided copies (permute, slice with steps, expand)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 3, maxLength: 3 }), seedArb, (shape, seed) => {
        compareWithReference(backend, () => {
          const x = randn(shape, { seed }).requiresGrad_();
          const y = randn(shape, { seed: seed + 1 }).requiresGrad_();
          const w = where(x.gt(0), x, y.mul(2));
          const c1 = x.clamp(-0.5, 0.7);
          const c2 = x.clamp(null, 0.3);
          const c3 = x.clamp(-0.2, null);
          const p = x.permute([2, 0, 1]).contiguous();
          const s = x.slice(1, shape[1]! - 1, undefined, 1).slice(2, 0, undefined, 2).contiguous();
          const e = x.slice(0, 0, 1).expand(shape).contiguous();
          w.add(c1).add(c2).add(c3).sum().add(p.square().sum()).add(s.sum()).add(e.mul(y).sum()).backward();
          return [w, c1, c2, c3, p, s, e, x.grad, y.grad];
        }, { reduction: 64 }, `where/clamp/copy ${JSON.stringify(shape)}`);
      }),
      RUNS,
    );
  });

  it('reductions over any axes (sum, mean, max, min, var) and their gradients', () => {
    fc.assert(
      fc.property(shapeArb, fc.nat({ max: 7 }), seedArb, (shape, axisMask, seed) => {
        const axes = shape.map((_, i) => i).filter((i) => axisMask & (1 << i));
        const reduction = axes.reduce((p, i) => p * shape[i]!, 1);
        compareWithReference(backend, () => {
          const x = randn(shape, { seed }).requiresGrad_();
          const outs = [x.sum(axes), x.mean(axes, true), x.max(axes), x.min(axes, true), x.var(axes)];
          outs.reduce((acc: Tensor, t) => acc.add(t.sum()), x.sum().mul(0)).backward();
          return [...outs, x.grad];
        }, { reduction, termMax: 16 }, `reduce over ${JSON.stringify(axes)} of ${JSON.stringify(shape)}`);
      }),
      RUNS,
    );
  });

  it('batched, broadcast and transposed matmul and its gradients', () => {
    fc.assert(
      fc.property(
        fc.record({ batch: fc.integer({ min: 1, max: 3 }), m: fc.integer({ min: 1, max: 7 }), k: fc.integer({ min: 1, max: 9 }), n: fc.integer({ min: 1, max: 7 }) }),
        fc.boolean(), fc.boolean(), fc.boolean(), seedArb,
        ({ batch, m, k, n }, ta, tb, broadcastB, seed) => {
          compareWithReference(backend, () => {
            const a0 = randn(ta ? [batch, k, m] : [batch, m, k], { seed }).requiresGrad_();
            const b0 = randn(tb ? [broadcastB ? 1 : batch, n, k] : [broadcastB ? 1 : batch, k, n], { seed: seed + 1 }).requiresGrad_();
            const a = ta ? a0.mT : a0;
            const b = tb ? b0.mT : b0;
            const y = a.matmul(b);
            y.mul(randn(y.shape, { seed: seed + 2 })).sum().backward();
            return [y, a0.grad, b0.grad];
          }, { reduction: Math.max(k, batch * Math.max(m, n)), termMax: 16 }, `matmul b${batch} ${m}x${k}x${n} ta=${ta} tb=${tb}`);
        },
      ),
      RUNS,
    );
  });

  it('conv2d with stride, padding, dilation and groups, and both gradients', () => {
    fc.assert(
      fc.property(convGeometries({ maxChannelsPerGroup: 3, maxSize: 7 }), seedArb, (g, seed) => {
        compareWithReference(backend, () => {
          const x = randn([g.batch, g.inChannels, g.height, g.width], { seed }).requiresGrad_();
          const w = randn([g.outChannels, g.inChannels / g.groups, ...g.kernel], { seed: seed + 1 }).requiresGrad_();
          const bias = randn([g.outChannels], { seed: seed + 2 }).requiresGrad_();
          const y = conv2d(x, w, bias, { stride: g.stride, padding: g.padding, dilation: g.dilation, groups: g.groups });
          y.mul(randn(y.shape, { seed: seed + 3 })).sum().backward();
          return [y, x.grad, w.grad, bias.grad];
          // the weight gradient sums over batch and output pixels; the input gradient over out-channels x kernel
        }, { reduction: g.batch * g.outHeight * g.outWidth * Math.max((g.inChannels / g.groups) * g.kernel[0] * g.kernel[1], g.outChannels / g.groups * g.kernel[0] * g.kernel[1], 1), termMax: 16 }, `conv2d ${JSON.stringify(g)}`);
      }),
      RUNS,
    );
  });

  it('group_norm, layer_norm and softmax / log_softmax with gradients', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), seedArb,
        (n, groups, cpg, hw, seed) => {
          const C = groups * cpg;
          compareWithReference(backend, () => {
            const x = randn([n, C, hw, hw], { seed, std: 3 }).requiresGrad_();
            const gw = randn([C], { seed: seed + 1 }).requiresGrad_();
            const gb = randn([C], { seed: seed + 2 }).requiresGrad_();
            const gn = groupNorm(x, groups, gw, gb, 1e-5);
            const ln = layerNorm(x, [hw, hw], null, null, 1e-5);
            const sm = x.softmax(1);
            const lsm = x.logSoftmax(-1);
            const r = randn(x.shape, { seed: seed + 3 });
            gn.mul(r).sum().add(ln.mul(r).sum()).add(sm.mul(r).sum()).add(lsm.mul(r).sum()).backward();
            return [gn, ln, sm, lsm, x.grad, gw.grad, gb.grad];
          }, { reduction: cpg * hw * hw * n, termMax: 16, rtol: 1e-4, atol: 1e-5 }, `norms n${n} g${groups} cpg${cpg} hw${hw}`);
        }),
      RUNS,
    );
  });

  it('upsample, average pooling, pad, concat and embedding with gradients', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 0, max: 1 }), fc.boolean(), seedArb,
        (c, hw, k, stride, padding, includePad, seed) => {
          const kk = Math.max(k, 2 * padding);
          if (kk > hw + 2 * padding) return;
          compareWithReference(backend, () => {
            const x = randn([2, c, hw, hw], { seed }).requiresGrad_();
            const up = upsampleNearest2d(x, [2, 3]);
            const pool = avgPool2d(x, kk, { stride, padding, countIncludePad: includePad });
            const padded = pad(x, [1, 0, 2, 1], 0.5);
            const cat = concat([x, x.square(), x.slice(1, 0, 1), x.neg(), x.slice(1, 0, 1).exp()], 1);
            const table = randn([7, c + 1], { seed: seed + 1 }).requiresGrad_();
            const idx = randint(0, 7, [hw, 2], { seed: seed + 2 });
            const emb = embedding(idx, table);
            const loss = up.mul(randn(up.shape, { seed: seed + 3 })).sum()
              .add(pool.mul(randn(pool.shape, { seed: seed + 4 })).sum())
              .add(padded.mul(randn(padded.shape, { seed: seed + 5 })).sum())
              .add(cat.mul(randn(cat.shape, { seed: seed + 6 })).sum())
              .add(emb.mul(randn(emb.shape, { seed: seed + 7 })).sum());
            loss.backward();
            return [up, pool, padded, cat, emb, x.grad, table.grad];
          }, { reduction: 2 * hw * hw, termMax: 16 }, `spatial c${c} hw${hw} k${kk} s${stride} p${padding}`);
        }),
      RUNS,
    );
  });

  it('the fused Adam / AdamW step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.boolean(), fc.integer({ min: 1, max: 20 }), seedArb, (size, decoupled, step, seed) => {
        const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, decoupled, step };
        compareWithReference(backend, () => {
          const p = randn([size], { seed });
          const g = randn([size], { seed: seed + 1 });
          const m = randn([size], { seed: seed + 2, std: 0.1 });
          const v = rand([size], { seed: seed + 3, high: 0.1 });
          const out = p.backend.adamStep(p.storage, g.storage, m.storage, v.storage, h);
          return [out.param, out.m, out.v].map((s) => new Tensor(s, [size]));
        }, { rtol: 1e-5 }, `adam size ${size} decoupled ${decoupled} step ${step}`);
      }),
      RUNS,
    );
  });

  // Loop bounds come from this.constants: a loop bounded by an argument would stop at 1000.
  it('reductions longer than gpu.js loopMaxIterations', () => {
    for (const cols of [1000, 1001, 2500]) {
      compareWithReference(backend, () => {
        const x = rand([3, cols], { seed: cols }).requiresGrad_();
        const s = x.sum(1);
        const mx = x.max(1);
        const sm = x.softmax(1);
        const w = rand([cols, 2], { seed: cols + 1 });
        const mm = x.matmul(w);
        const ln = layerNorm(x, [cols]);
        ln.square().sum().add(mm.sum()).backward();
        return [s, mx, sm, mm, ln, x.grad];
      }, { reduction: cols, termMax: 1, rtol: 1e-4 }, `reduction of ${cols}`);
    }
  });

  // Outputs of 4096 cells and more: where webasm splits a kernel over its threads, and
  // where matmul takes its 4-rows-per-thread webasm kernel (m a multiple of 4).
  it('large outputs: matmul, conv2d forward and backward', () => {
    compareWithReference(backend, () => {
      const a = randn([2, 48, 33], { seed: 1 }).requiresGrad_();
      const b = randn([33, 64], { seed: 2 }).requiresGrad_();
      const y = a.matmul(b);
      const x = randn([1, 8, 24, 24], { seed: 3 }).requiresGrad_();
      const w = randn([16, 8, 3, 3], { seed: 4 }).requiresGrad_();
      const c = conv2d(x, w, null, { padding: 1 });
      y.mul(randn(y.shape, { seed: 5 })).sum().add(c.mul(randn(c.shape, { seed: 6 })).sum()).backward();
      return [y, a.grad, b.grad, c, x.grad, w.grad];
    }, { reduction: 24 * 24 * 8, termMax: 16 }, 'large outputs');
  });
});
