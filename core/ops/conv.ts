/**
 * conv2d (stride, padding, dilation, groups) with fused gather-style gradient kernels, and
 * convTranspose2d, which is conv2d's input gradient run forward (the same three kernels).
 */
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

export interface ConvTranspose2dOptions extends Conv2dOptions {
  /** Extra rows/columns on the bottom/right of the output (torch's output_padding, < stride). */
  outputPadding?: Pair;
}

/**
 * x [N, Cin, H, W], weight [Cin, Cout/groups, kh, kw], bias [Cout] -> [N, Cout, OH, OW] with
 * OH = (H - 1) stride - 2 padding + dilation (kh - 1) + outputPadding + 1
 * (torch.nn.functional.conv_transpose2d). It is the gradient of a conv2d with respect to its
 * input: the forward runs conv2dGradInput, the input gradient conv2d, the weight gradient
 * conv2dGradWeight with the roles of input and output gradient swapped.
 */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options: ConvTranspose2dOptions = {}): Tensor {
  const backend = backendOf('convTranspose2d', x, weight, bias);
  if (x.ndim !== 4 || weight.ndim !== 4) {
    throw new ShapeError(`convTranspose2d: input must be [N, Cin, H, W] and weight [Cin, Cout/groups, kh, kw], got ${fmtShape(x.shape)} and ${fmtShape(weight.shape)}`);
  }
  const [strideH, strideW] = pair('convTranspose2d', 'stride', options.stride ?? 1, 1);
  const [padH, padW] = pair('convTranspose2d', 'padding', options.padding ?? 0, 0);
  const [dilationH, dilationW] = pair('convTranspose2d', 'dilation', options.dilation ?? 1, 1);
  const [outPadH, outPadW] = pair('convTranspose2d', 'outputPadding', options.outputPadding ?? 0, 0);
  const groups = options.groups ?? 1;
  const [N, Cin, H, W] = x.shape as [number, number, number, number];
  const [Wi, Cg, kh, kw] = weight.shape as [number, number, number, number];
  if (Wi !== Cin) throw new ShapeError(`convTranspose2d: input ${fmtShape(x.shape)} has ${Cin} channels but weight ${fmtShape(weight.shape)} expects ${Wi}`);
  if (!Number.isInteger(groups) || groups < 1 || Cin % groups !== 0) {
    throw new ArgumentError(`convTranspose2d: groups ${groups} must divide the ${Cin} input channels`);
  }
  if (outPadH >= strideH || outPadW >= strideW) {
    throw new ArgumentError(`convTranspose2d: outputPadding ${outPadH}x${outPadW} must be smaller than the stride ${strideH}x${strideW}`);
  }
  const Cout = Cg * groups;
  const OH = (H - 1) * strideH - 2 * padH + dilationH * (kh - 1) + outPadH + 1;
  const OW = (W - 1) * strideW - 2 * padW + dilationW * (kw - 1) + outPadW + 1;
  if (OH < 1 || OW < 1) throw new ShapeError(`convTranspose2d: padding ${padH}x${padW} leaves no output for input ${fmtShape(x.shape)} and kernel ${kh}x${kw}`);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== Cout)) {
    throw new ShapeError(`convTranspose2d: bias must have shape [${Cout}], got ${fmtShape(bias.shape)}`);
  }
  // The conv2d whose input gradient this is: its input is our output, its output our input.
  const g: Conv2dGeometry = {
    batch: N, inChannels: Cout, inHeight: OH, inWidth: OW, outChannels: Cin, outHeight: H, outWidth: W,
    kernelHeight: kh, kernelWidth: kw, strideH, strideW, padH, padW, dilationH, dilationW, groups,
  };
  const xs = dense(x);
  const ws = dense(weight);
  const out = attach(wrap(backend.conv2dGradInput(xs, ws, g), [N, Cout, OH, OW]), 'convTranspose2d', [x, weight], (gy) => {
    const gys = dense(gy);
    return [
      x.requiresGrad ? wrap(backend.conv2d(gys, ws, g), x.shape) : null,
      weight.requiresGrad ? wrap(backend.conv2dGradWeight(gys, xs, g), weight.shape) : null,
    ];
  });
  return bias ? out.add(bias.reshape([1, Cout, 1, 1])) : out;
}
