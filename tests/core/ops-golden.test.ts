/**
 * The ops a PyTorch user reaches for (linspace, cumsum, logsumexp, argmax/argmin, gather,
 * indexSelect, maskedFill, eye, tril/triu, maxPool2d, interpolate, convTranspose2d,
 * batchNorm, std, erf) against PyTorch's own outputs and gradients (fixtures made by
 * tests/fixtures/core/make_ops_golden.py with Debian's python3-torch, in float64).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as T from '../../core/index.ts';
import { expectClose, f64 } from './helpers.ts';

type Values = (number | string)[];
interface Case {
  name: string;
  inputs: { shape: number[]; values: Values }[];
  consts: { shape: number[]; values: Values }[];
  out: { shape: number[]; values: Values }[] extends never ? never : { shape: number[]; values: Values };
  extra: { shape: number[]; values: Values }[];
  gy?: Values;
  grads?: Values[];
}

const golden = JSON.parse(readFileSync(new URL('../fixtures/core/ops-golden.json', import.meta.url), 'utf8')) as { cases: Case[] };
const num = (v: Values): number[] => v.map((x) => (typeof x === 'number' ? x : x === 'inf' ? Infinity : x === '-inf' ? -Infinity : NaN));

type Fn = (xs: T.Tensor[], cs: T.Tensor[], backend: T.Backend) => { out: T.Tensor; extra?: T.Tensor[] };
const ours: Record<string, Fn> = {
  linspace: (_x, _c, backend) => ({ out: T.linspace(-1, 2, 7, { backend }) }),
  'linspace one step': (_x, _c, backend) => ({ out: T.linspace(3, 5, 1, { backend }) }),
  'linspace descending': (_x, _c, backend) => ({ out: T.linspace(10, -10, 6, { backend }) }),
  'eye 3x4': (_x, _c, backend) => ({ out: T.eye(3, 4, { backend }) }),
  'cumsum dim1': ([x]) => ({ out: x!.cumsum(1) }),
  'cumsum dim-1': ([x]) => ({ out: T.cumsum(x!, -1) }),
  'logsumexp dims keepdim': ([x]) => ({ out: x!.logsumexp([0, 2], true) }),
  'logsumexp dim1': ([x]) => ({ out: T.logsumexp(x!.mul(30), 1) }),
  'argmax dim1 ties': ([x]) => ({ out: x!.argmax(1) }),
  'argmin flat': ([x]) => ({ out: T.argmin(x!) }),
  'argmax dim0 keepdim': ([x]) => ({ out: x!.argmax(0, true) }),
  'gather dim1': ([x], [i]) => ({ out: x!.gather(1, i!) }),
  'gather dim0': ([x], [i]) => ({ out: T.gather(x!, 0, i!) }),
  'index_select dim1 repeats': ([x], [i]) => ({ out: x!.indexSelect(1, i!) }),
  'masked_fill broadcast': ([x], [m]) => ({ out: x!.maskedFill(m!, -2.5) }),
  'tril diagonal -1': ([x]) => ({ out: x!.tril(-1) }),
  'triu diagonal 1': ([x]) => ({ out: T.triu(x!, 1) }),
  'max_pool2d k3 s2 p1 ties': ([x]) => ({ out: T.maxPool2d(x!, 3, { stride: 2, padding: 1 }) }),
  'max_pool2d k2 ceil': ([x]) => ({ out: T.maxPool2d(x!, 2, { ceilMode: true }) }),
  'max_pool2d k2 dilation2 s1': ([x]) => ({ out: T.maxPool2d(x!, [2, 3], { stride: 1, dilation: 2 }) }),
  'interpolate nearest size': ([x]) => ({ out: T.interpolate(x!, { size: [5, 3] }) }),
  'interpolate nearest scale 1.5': ([x]) => ({ out: T.interpolate(x!, { scaleFactor: 1.5, mode: 'nearest' }) }),
  'interpolate nearest down': ([x]) => ({ out: T.interpolate(x!, { size: [3, 2], mode: 'nearest' }) }),
  'interpolate bilinear': ([x]) => ({ out: T.interpolate(x!, { size: [5, 7], mode: 'bilinear', alignCorners: false }) }),
  'interpolate bilinear align': ([x]) => ({ out: T.interpolate(x!, { size: [5, 7], mode: 'bilinear', alignCorners: true }) }),
  'interpolate bilinear scale 0.5': ([x]) => ({ out: T.interpolate(x!, { scaleFactor: 0.5, mode: 'bilinear' }) }),
  'interpolate bilinear scale 2.5': ([x]) => ({ out: T.interpolate(x!, { scaleFactor: 2.5, mode: 'bilinear' }) }),
  'conv_transpose2d s2 p1 op1 groups2 bias': ([x, w, b]) => ({ out: T.convTranspose2d(x!, w!, b, { stride: 2, padding: 1, outputPadding: 1, groups: 2 }) }),
  'conv_transpose2d dilation2': ([x, w]) => ({ out: T.convTranspose2d(x!, w!, null, { dilation: 2, stride: [1, 2] }) }),
  'batch_norm train': ([x, w, b], [rm, rv]) => ({
    out: T.batchNorm(x!, rm!, rv!, { weight: w, bias: b, training: true, momentum: 0.3, eps: 1e-5 }),
    extra: [rm!, rv!],
  }),
  'batch_norm eval': ([x, w, b], [rm, rv]) => ({ out: T.batchNorm(x!, rm!, rv!, { weight: w, bias: b, eps: 1e-3 }) }),
  'std dim unbiased': ([x]) => ({ out: x!.std(1) }),
  'std correction 0 keepdim': ([x]) => ({ out: T.std(x!, [0, 2], { unbiased: false, keepdim: true }) }),
  'std all': ([x]) => ({ out: x!.std() }),
  erf: ([x]) => ({ out: T.erf(x!.mul(2)) }),
};

describe('ops match PyTorch (forward, gradients, side effects)', () => {
  for (const c of golden.cases) {
    it(c.name, () => {
      const fn = ours[c.name];
      if (!fn) throw new Error(`no implementation mapped for golden case '${c.name}'`);
      for (const backend of [f64, new T.ReferenceBackend()]) {
        const tol = backend === f64 ? 1e-10 : 2e-5;
        const xs = c.inputs.map((i) => T.tensor(num(i.values), i.shape, { backend, requiresGrad: c.grads !== undefined }));
        const cs = c.consts.map((k) => T.tensor(num(k.values), k.shape, { backend }));
        const { out, extra = [] } = fn(xs, cs, backend);
        expect(out.backend).toBe(backend);
        expect(out.shape).toEqual(c.out.shape);
        expectClose(out.toFloat64Array(), num(c.out.values), tol);
        extra.forEach((e, i) => expectClose(e.toFloat64Array(), num(c.extra[i]!.values), tol));
        if (!c.grads) {
          expect(out.requiresGrad).toBe(false);
          continue;
        }
        out.backward(T.tensor(num(c.gy!), c.out.shape, { backend }));
        xs.forEach((x, i) => expectClose(x.grad!.toFloat64Array(), num(c.grads![i]!), tol));
      }
    });
  }
});
