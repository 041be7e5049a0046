/**
 * group_norm, layer_norm and batch_norm (training) share one fused kernel: standardise rows
 * of a [rows, cols] block (biased variance, like torch), with a hand-written gradient. The
 * affine scale and shift are ordinary broadcast ops on top.
 */
import { attach, noGrad } from '../autograd.ts';
import { ArgumentError, ShapeError, fmtShape } from '../errors.ts';
import { sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { backendOf, dense, wrap } from './util.ts';

function checkEps(op: string, eps: number): void {
  if (!Number.isFinite(eps) || eps <= 0) throw new ArgumentError(`${op}: eps must be a finite number > 0, got ${eps}`);
}

/** (x - mean) / sqrt(var + eps) over each row of x viewed as [rows, cols]. */
function standardizeRows(x: Tensor, rows: number, cols: number, eps: number): Tensor {
  const { y, rstd } = x.backend.normRows(dense(x), rows, cols, eps);
  const out = wrap(y, x.shape);
  return attach(out, 'standardize', [x], (gy) => [wrap(x.backend.normRowsGrad(y, dense(gy), rstd, rows, cols), x.shape)]);
}

function affine(y: Tensor, weight: Tensor | null | undefined, bias: Tensor | null | undefined, paramShape: number[]): Tensor {
  let out = y;
  if (weight) out = out.mul(weight.reshape(paramShape));
  if (bias) out = out.add(bias.reshape(paramShape));
  return out;
}

/** x [N, C, *] normalised over groups of C/numGroups channels; weight and bias [C]. */
export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  backendOf('groupNorm', x, weight, bias);
  checkEps('groupNorm', eps);
  if (x.ndim < 2) throw new ShapeError(`groupNorm: input must be [N, C, ...], got ${fmtShape(x.shape)}`);
  const [N, C] = x.shape as [number, number];
  if (!Number.isInteger(numGroups) || numGroups < 1 || C % numGroups !== 0) {
    throw new ArgumentError(`groupNorm: numGroups ${numGroups} must divide the ${C} channels of ${fmtShape(x.shape)}`);
  }
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.ndim !== 1 || p.shape[0] !== C)) throw new ShapeError(`groupNorm: ${name} must have shape [${C}], got ${fmtShape(p.shape)}`);
  }
  const cols = sizeOf(x.shape) / (N * numGroups);
  const y = standardizeRows(x, N * numGroups, cols, eps);
  return affine(y, weight, bias, [1, C, ...x.shape.slice(2).map(() => 1)]);
}

/** Normalises over the trailing axes given by normalizedShape; weight and bias of that shape. */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  backendOf('layerNorm', x, weight, bias);
  checkEps('layerNorm', eps);
  const k = normalizedShape.length;
  const tail = x.shape.slice(x.ndim - k);
  if (k === 0 || k > x.ndim || tail.some((d, i) => d !== normalizedShape[i])) {
    throw new ShapeError(`layerNorm: normalizedShape ${fmtShape(normalizedShape)} must match the trailing axes of ${fmtShape(x.shape)}`);
  }
  for (const [name, p] of [['weight', weight], ['bias', bias]] as const) {
    if (p && (p.ndim !== k || p.shape.some((d, i) => d !== normalizedShape[i]))) {
      throw new ShapeError(`layerNorm: ${name} must have shape ${fmtShape(normalizedShape)}, got ${fmtShape(p.shape)}`);
    }
  }
  const cols = sizeOf(normalizedShape);
  const y = standardizeRows(x, x.size / Math.max(cols, 1), cols, eps);
  return affine(y, weight, bias, [...normalizedShape]);
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  /** Normalise with the batch's statistics and update the running ones (default false: use the running ones). */
  training?: boolean;
  /** Weight of the new batch in the running averages (default 0.1, torch's). */
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalisation of x [N, C, *] per channel (torch.nn.functional.batch_norm). Training:
 * the batch's mean and biased variance normalise x, and runningMean / runningVar (when given)
 * become (1 - momentum) running + momentum batch, the variance unbiased, as in torch (updated
 * in place with setData). Eval: the running statistics normalise x.
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, options: BatchNormOptions = {}): Tensor {
  const { weight, bias, training = false, momentum = 0.1, eps = 1e-5 } = options;
  backendOf('batchNorm', x, runningMean, runningVar, weight, bias);
  checkEps('batchNorm', eps);
  if (!Number.isFinite(momentum) || momentum < 0 || momentum > 1) throw new ArgumentError(`batchNorm: momentum must be in [0, 1], got ${momentum}`);
  if (x.ndim < 2) throw new ShapeError(`batchNorm: input must be [N, C, ...], got ${fmtShape(x.shape)}`);
  const C = x.shape[1]!;
  for (const [name, p] of [['weight', weight], ['bias', bias], ['runningMean', runningMean], ['runningVar', runningVar]] as const) {
    if (p && (p.ndim !== 1 || p.shape[0] !== C)) throw new ShapeError(`batchNorm: ${name} must have shape [${C}], got ${fmtShape(p.shape)}`);
  }
  if ((runningMean === null) !== (runningVar === null)) throw new ArgumentError('batchNorm: give both runningMean and runningVar, or neither');
  const paramShape = [1, C, ...x.shape.slice(2).map(() => 1)];
  const count = x.size / Math.max(C, 1);
  let y: Tensor;
  if (training) {
    if (count <= 1) throw new ArgumentError(`batchNorm: training needs more than 1 value per channel, got input ${fmtShape(x.shape)}`);
    // Channels first: each channel's N * H * W values become one row of the fused kernel.
    const rows = x.transpose(0, 1).contiguous();
    const moved = rows.shape;
    y = standardizeRows(rows.reshape([C, count]), C, count, eps).reshape(moved).transpose(0, 1);
    if (runningMean && runningVar) {
      noGrad(() => {
        const flat = rows.reshape([C, count]);
        const mean = flat.mean(1);
        const unbiased = flat.var(1, { correction: 1 });
        runningMean.setData(runningMean.mul(1 - momentum).add(mean.mul(momentum)));
        runningVar.setData(runningVar.mul(1 - momentum).add(unbiased.mul(momentum)));
      });
    }
  } else {
    if (!runningMean || !runningVar) throw new ArgumentError('batchNorm: eval mode (training: false) needs runningMean and runningVar');
    y = x.sub(runningMean.reshape(paramShape)).mul(runningVar.add(eps).rsqrt().reshape(paramShape));
  }
  return affine(y, weight, bias, paramShape);
}
