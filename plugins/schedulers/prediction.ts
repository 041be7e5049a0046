/**
 * Converting a model output into x0 and epsilon for each prediction type, at a noise level
 * given as alpha-bar (x_t = sqrt(abar) x0 + sqrt(1 - abar) eps), and the two ways diffusers
 * keeps a predicted x0 in range: plain clipping and Imagen's dynamic thresholding.
 */
import { ArgumentError, type Tensor, tensor } from '../../core/index.ts';
import type { PredictionType } from './types.ts';

/** x0 predicted from the model output at noise level alphaProd (= abar_t). */
export function predictOriginalSample(op: string, predictionType: PredictionType, modelOutput: Tensor, sample: Tensor, alphaProd: number): Tensor {
  const betaProd = 1 - alphaProd;
  switch (predictionType) {
    case 'epsilon':
      return sample.sub(modelOutput.mul(Math.sqrt(betaProd))).div(Math.sqrt(alphaProd));
    case 'sample':
      return modelOutput;
    case 'v_prediction':
      return sample.mul(Math.sqrt(alphaProd)).sub(modelOutput.mul(Math.sqrt(betaProd)));
    default:
      throw new ArgumentError(`${op}: predictionType '${String(predictionType)}' must be one of epsilon, sample, v_prediction`);
  }
}

/** epsilon predicted from the model output (DDIM needs it beside x0). */
export function predictEpsilon(op: string, predictionType: PredictionType, modelOutput: Tensor, sample: Tensor, alphaProd: number, predOriginal: Tensor): Tensor {
  const betaProd = 1 - alphaProd;
  switch (predictionType) {
    case 'epsilon':
      return modelOutput;
    case 'sample':
      return sample.sub(predOriginal.mul(Math.sqrt(alphaProd))).div(Math.sqrt(betaProd));
    case 'v_prediction':
      return modelOutput.mul(Math.sqrt(alphaProd)).add(sample.mul(Math.sqrt(betaProd)));
    default:
      throw new ArgumentError(`${op}: predictionType '${String(predictionType)}' must be one of epsilon, sample, v_prediction`);
  }
}

/** numpy / torch quantile with linear interpolation between order statistics. */
export function quantile(sorted: Float64Array, q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Dynamic thresholding (Imagen, arXiv:2205.11487): per sample, s = the `ratio` quantile of
 * |x0|, clamped to [1, maxValue]; x0 is clamped to [-s, s] and divided by s. Done on the host:
 * a quantile is a sort, and this runs once per sampling step.
 */
export function thresholdSample(x: Tensor, ratio: number, maxValue: number): Tensor {
  const batch = x.shape[0] ?? 1;
  const values = x.toFloat64Array();
  const per = values.length / batch;
  const out = new Float64Array(values.length);
  for (let b = 0; b < batch; b++) {
    const row = values.subarray(b * per, (b + 1) * per);
    const sorted = Float64Array.from(row, Math.abs).sort();
    const s = Math.min(Math.max(quantile(sorted, ratio), 1), maxValue);
    for (let i = 0; i < per; i++) out[b * per + i] = Math.min(Math.max(row[i]!, -s), s) / s;
  }
  return tensor(out, [...x.shape], { backend: x.backend });
}

export interface ClipOptions {
  thresholding: boolean;
  dynamicThresholdingRatio: number;
  sampleMaxValue: number;
  clipSample?: boolean;
  clipSampleRange?: number;
}

/** diffusers' order: thresholding if on, else clipping if on. */
export function clipPredictedOriginal(x0: Tensor, c: ClipOptions): Tensor {
  if (c.thresholding) return thresholdSample(x0, c.dynamicThresholdingRatio, c.sampleMaxValue);
  if (c.clipSample) return x0.clamp(-(c.clipSampleRange ?? 1), c.clipSampleRange ?? 1);
  return x0;
}
