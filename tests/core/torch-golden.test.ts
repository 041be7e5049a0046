/**
 * Forward values and gradients of the core ops against PyTorch's own (fixtures made once by
 * tests/fixtures/core/make_core_golden.py with Debian's python3-torch, in float64).
 */
import { readFileSync } from 'node:fs';
import { describe, it } from 'vitest';
import * as T from '../../core/index.ts';
import { expectClose, f64 } from './helpers.ts';

interface Case {
  name: string;
  inputs: { shape: number[]; values: number[] }[];
  gy: number[];
  out: { shape: number[]; values: number[] };
  grads: number[][];
}

const golden = JSON.parse(readFileSync(new URL('../fixtures/core/golden.json', import.meta.url), 'utf8')) as { cases: Case[] };

const ours: Record<string, (...xs: T.Tensor[]) => T.Tensor> = {
  'conv2d stride2 pad1 groups2 bias': (x, w, b) => T.conv2d(x!, w!, b, { stride: 2, padding: 1, groups: 2 }),
  'conv2d dilation2': (x, w) => T.conv2d(x!, w!, null, { dilation: 2, padding: 2 }),
  group_norm: (x, w, b) => T.groupNorm(x!, 2, w, b, 1e-5),
  layer_norm: (x, w, b) => T.layerNorm(x!, [5], w, b, 1e-5),
  'softmax dim1': (x) => x!.softmax(1),
  log_softmax: (x) => x!.logSoftmax(-1),
  gelu: (x) => x!.gelu(),
  'gelu tanh': (x) => x!.gelu('tanh'),
  silu: (x) => x!.silu(),
  'matmul broadcast': (a, b) => a!.matmul(b!),
  'avg_pool2d no pad count': (x) => T.avgPool2d(x!, 3, { stride: 2, padding: 1, countIncludePad: false }),
  'interpolate nearest': (x) => T.upsampleNearest2d(x!, 2),
  'var unbiased': (x) => x!.var([0, 2], { keepdim: true }),
  pow: (a, b) => a!.pow(b!),
  mse: (a, b) => T.mseLoss(a!, b!),
  attention: (q, k, v) => q!.matmul(k!.mT).div(2).softmax(-1).matmul(v!),
};

describe('core ops match PyTorch', () => {
  for (const c of golden.cases) {
    it(c.name, () => {
      const fn = ours[c.name];
      if (!fn) throw new Error(`no implementation mapped for golden case '${c.name}'`);
      for (const backend of [f64, new T.ReferenceBackend()]) {
        const tol = backend === f64 ? 1e-10 : 1e-5;
        const xs = c.inputs.map((i) => T.tensor(i.values, i.shape, { backend, requiresGrad: true }));
        const out = fn(...xs);
        expectClose(out.shape, c.out.shape, 0);
        expectClose(out.toFloat64Array(), c.out.values, tol);
        out.backward(T.tensor(c.gy, c.out.shape, { backend }));
        xs.forEach((x, i) => expectClose(x.grad!.toFloat64Array(), c.grads[i]!, tol));
      }
    });
  }
});
