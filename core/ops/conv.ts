/** conv2d (stride, padding, dilation, groups) with fused gather-style gradient kernels. */
import { attach } from '../autograd.ts';
import type { Conv2dGeometry } from '../backend.ts';
import { ArgumentError, ShapeError, fmtShape } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { backendOf, dense, wrap } from './util.ts';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

export function pair(op: string, name: string, v: Pair, min: number): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new ArgumentError(`${op}: ${name} must be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

/** x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] -> [N, O, OH, OW]. */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const backend = backendOf('conv2d', x, weight, bias);
  if (x.ndim !== 4 || weight.ndim !== 4) {
    throw new ShapeError(`conv2d: input must be [N, C, H, W] and weight [O, C/groups, kh, kw], got ${fmtShape(x.shape)} and ${fmtShape(weight.shape)}`);
  }
  const [strideH, strideW] = pair('conv2d', 'stride', options.stride ?? 1, 1);
  const [padH, padW] = pair('conv2d', 'padding', options.padding ?? 0, 0);
  const [dilationH, dilationW] = pair('conv2d', 'dilation', options.dilation ?? 1, 1);
  const groups = options.groups ?? 1;
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cg, kh, kw] = weight.shape as [number, number, number, number];
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0 || O % groups !== 0) {
    throw new ArgumentError(`conv2d: groups ${groups} must divide both input channels ${C} and output channels ${O}`);
  }
  if (Cg * groups !== C) {
    throw new ShapeError(`conv2d: input ${fmtShape(x.shape)} has ${C} channels but weight ${fmtShape(weight.shape)} expects ${Cg * groups} (groups=${groups})`);
  }
  const OH = Math.floor((H + 2 * padH - dilationH * (kh - 1) - 1) / strideH) + 1;
  const OW = Math.floor((W + 2 * padW - dilationW * (kw - 1) - 1) / strideW) + 1;
  if (OH < 1 || OW < 1) {
    throw new ShapeError(`conv2d: kernel ${kh}x${kw} (dilation ${dilationH}x${dilationW}) does not fit input ${H}x${W} with padding ${padH}x${padW}`);
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== O)) {
    throw new ShapeError(`conv2d: bias must have shape [${O}], got ${fmtShape(bias.shape)}`);
  }
  const g: Conv2dGeometry = {
    batch: N, inChannels: C, inHeight: H, inWidth: W, outChannels: O, outHeight: OH, outWidth: OW,
    kernelHeight: kh, kernelWidth: kw, strideH, strideW, padH, padW, dilationH, dilationW, groups,
  };
  const xs = dense(x);
  const ws = dense(weight);
  const out = attach(wrap(backend.conv2d(xs, ws, g), [N, O, OH, OW]), 'conv2d', [x, weight], (gy) => {
    const gys = dense(gy);
    return [
      x.requiresGrad ? wrap(backend.conv2dGradInput(gys, ws, g), x.shape) : null,
      weight.requiresGrad ? wrap(backend.conv2dGradWeight(xs, gys, g), weight.shape) : null,
    ];
  });
  return bias ? out.add(bias.reshape([1, O, 1, 1])) : out;
}
