/** Spatial resampling on [N, C, H, W]: nearest upsampling and average pooling. */
import { attach } from '../autograd.ts';
import type { Pool2dGeometry } from '../backend.ts';
import { ArgumentError, ShapeError, fmtShape } from '../errors.ts';
import type { Tensor } from '../tensor.ts';
import { type Pair, pair } from './conv.ts';
import { dense, wrap } from './util.ts';

function nchw(op: string, x: Tensor): [number, number, number, number] {
  if (x.ndim !== 4) throw new ShapeError(`${op}: input must be [N, C, H, W], got ${fmtShape(x.shape)}`);
  return x.shape as [number, number, number, number];
}

/** Nearest-neighbour upsampling by integer factors (torch's interpolate(mode='nearest')). */
export function upsampleNearest2d(x: Tensor, scale: Pair = 2): Tensor {
  const [N, C, H, W] = nchw('upsampleNearest2d', x);
  const [sh, sw] = pair('upsampleNearest2d', 'scale', scale, 1);
  const planes = N * C;
  const out = wrap(x.backend.upsampleNearest2d(dense(x), planes, H, W, sh, sw), [N, C, H * sh, W * sw]);
  return attach(out, 'upsampleNearest2d', [x], (gy) => [
    wrap(x.backend.upsampleNearest2dGrad(dense(gy), planes, H, W, sh, sw), x.shape),
  ]);
}

export interface AvgPool2dOptions {
  stride?: Pair;
  padding?: Pair;
  /** Count padded zeros in the divisor (torch's default, true). */
  countIncludePad?: boolean;
}

export function avgPool2d(x: Tensor, kernel: Pair, options: AvgPool2dOptions = {}): Tensor {
  const [N, C, H, W] = nchw('avgPool2d', x);
  const [kernelH, kernelW] = pair('avgPool2d', 'kernel', kernel, 1);
  const [strideH, strideW] = pair('avgPool2d', 'stride', options.stride ?? kernel, 1);
  const [padH, padW] = pair('avgPool2d', 'padding', options.padding ?? 0, 0);
  if (padH > kernelH / 2 || padW > kernelW / 2) {
    throw new ArgumentError(`avgPool2d: padding ${padH}x${padW} must be at most half the kernel ${kernelH}x${kernelW}`);
  }
  const outHeight = Math.floor((H + 2 * padH - kernelH) / strideH) + 1;
  const outWidth = Math.floor((W + 2 * padW - kernelW) / strideW) + 1;
  if (outHeight < 1 || outWidth < 1) throw new ShapeError(`avgPool2d: kernel ${kernelH}x${kernelW} does not fit input ${fmtShape(x.shape)}`);
  const g: Pool2dGeometry = {
    batch: N, channels: C, inHeight: H, inWidth: W, outHeight, outWidth,
    kernelH, kernelW, strideH, strideW, padH, padW, countIncludePad: options.countIncludePad ?? true,
  };
  const out = wrap(x.backend.avgPool2d(dense(x), g), [N, C, outHeight, outWidth]);
  return attach(out, 'avgPool2d', [x], (gy) => [wrap(x.backend.avgPool2dGrad(dense(gy), g), x.shape)]);
}
