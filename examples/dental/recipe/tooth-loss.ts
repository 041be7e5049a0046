/**
 * The improved variant's loss: the diffusion loss weighted toward the teeth. The tooth mask of
 * each sample (its segmentation map's tooth colours, as the mask-composite blender reads them)
 * is area-averaged down to the latent grid, and a latent pixel's squared error counts
 * 1 + weight * (its tooth fraction): weight 0 is the plain loss, weight 3 makes a pixel fully
 * inside a tooth count four times a gum or background pixel. The weighted mean keeps the loss's
 * scale (diffusionTrainingStep's lossWeights).
 */
import type { Backend } from '../../../core/backend.ts';
import { ArgumentError, ShapeError } from '../../../core/errors.ts';
import { tensor } from '../../../core/ops/creation.ts';
import type { Tensor } from '../../../core/tensor.ts';
import { toothMasks } from './ablation-metrics.ts';

/** Fraction of tooth pixels in each cell of a side x side grid over an H x W mask. */
export function poolMask(mask: Uint8Array, height: number, width: number, side: number): Float32Array {
  if (height % side || width % side) throw new ShapeError(`poolMask: a ${height}x${width} mask does not divide into a ${side}x${side} grid`);
  const fy = height / side, fx = width / side, out = new Float32Array(side * side);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[Math.floor(y / fy) * side + Math.floor(x / fx)]! += mask[y * width + x]!;
  return out.map((v) => v / (fy * fx));
}

export function checkToothLossWeight(weight: number, where = '--tooth-loss-weight'): number {
  if (!Number.isFinite(weight) || weight < 0) throw new ArgumentError(`${where}: expected a finite number >= 0, got ${weight}`);
  return weight;
}

/** lossWeights [N, 1, side, side] = 1 + weight * tooth fraction, from segmentation maps [N, 3, H, W] in [0, 1]. */
export function toothLossWeights(segmentation: Tensor, side: number, weight: number, backend?: Backend): Tensor {
  checkToothLossWeight(weight, 'toothLossWeights');
  const [n, , h, w] = segmentation.shape as [number, number, number, number];
  const out = new Float32Array(n * side * side);
  toothMasks(segmentation).forEach((m, i) => {
    const f = poolMask(m, h, w, side);
    for (let p = 0; p < f.length; p++) out[i * side * side + p] = 1 + weight * f[p]!;
  });
  return tensor(out, [n, 1, side, side], { backend: backend ?? segmentation.backend });
}
