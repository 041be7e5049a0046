/**
 * Evaluation shared by the stages and `sample`: a fixed set of validation samples as batched
 * tensors, sampling them through the pipeline with one or several conditions, PSNR/SSIM
 * against the targets, and labelled comparison grids (one sample a row).
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../../core/io/atomic.ts';
import { stack } from '../../../core/ops/concat.ts';
import type { Image } from '../../../core/plugins/tokens.ts';
import type { SampleCondition } from '../../../core/index.ts';
import type { Tensor } from '../../../core/tensor.ts';
import { meanFinite, psnr, ssim } from '../../../plugins/diffusion/metrics.ts';
import type { DiffusionPipeline } from '../../../plugins/diffusion/pipeline.ts';
import { labelledGridPng } from '../image-io.ts';
import type { DentalTensorDataset } from './data.ts';

/** Validation samples, batched: targets in [0, 1] (for metrics and grids), conditions in [0, 1]. */
export interface EvalSet {
  keys: string[];
  prompts: string[];
  targets: Tensor;
  conditions: Record<string, Tensor>;
}

/** The first `count` samples of a (validation) dataset. */
export async function loadEvalSet(ds: DentalTensorDataset, count: number): Promise<EvalSet> {
  const n = Math.min(count, ds.length);
  const b = await ds.batch(Array.from({ length: n }, (_, i) => i));
  const conditions: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(b.conditions)) conditions[k] = stack(v, 0);
  return { keys: b.keys, prompts: b.prompts, targets: stack(b.targets, 0).add(1).div(2), conditions };
}

export interface SampleSettings {
  scheduler: string;
  steps: number;
  guidanceScale: number;
  seed: number;
  controlStrength?: number;
  negativePrompt?: string;
}

/** Samples every prompt of the set under `conditions` (empty: text only): images [N, 3, H, W] in [0, 1]. */
export function sampleSet(pipeline: DiffusionPipeline, set: Pick<EvalSet, 'prompts' | 'targets'>, conditions: SampleCondition[], s: SampleSettings): Tensor {
  const [, , h, w] = set.targets.shape as [number, number, number, number];
  return pipeline.sample({
    prompt: set.prompts, negativePrompt: s.negativePrompt ?? '', conditions, scheduler: s.scheduler, steps: s.steps,
    guidanceScale: s.guidanceScale, seed: s.seed, controlStrength: s.controlStrength ?? 1, height: h, width: w,
  }).images;
}

/** Mean PSNR (dB) and SSIM of `images` against `targets`, with the per-image values. */
export function quality(images: Tensor, targets: Tensor): { psnr: number; ssim: number; perImage: { psnr: number[]; ssim: number[] } } {
  const p = psnr(images, targets), s = targets.shape[2]! >= 11 && targets.shape[3]! >= 11 ? ssim(images, targets) : targets.shape.slice(0, 1).map(() => NaN);
  return { psnr: meanFinite(p), ssim: meanFinite(s), perImage: { psnr: p, ssim: s } };
}

/** [N, C, H, W] in [0, 1] -> N HWC images. */
export function tensorToImages(t: Tensor): Image[] {
  const [n, c, h, w] = t.shape as [number, number, number, number];
  const v = t.toArray();
  return Array.from({ length: n }, (_, i) => {
    const data = new Float32Array(h * w * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < 3; k++) data[(y * w + x) * 3 + k] = v[((i * c + (c === 1 ? 0 : k)) * h + y) * w + x]!;
    return { width: w, height: h, channels: 3, data };
  });
}

/** A PNG grid, one sample a row, one labelled column per tensor (all [N, C, H, W] in [0, 1]); tiles upscaled to >= 96 px. */
export async function writeComparisonGrid(path: string, columns: ReadonlyArray<{ label: string; images: Tensor }>): Promise<string> {
  const cols = columns.map((c) => tensorToImages(c.images));
  const n = cols[0]!.length;
  const scale = Math.max(1, Math.ceil(96 / cols[0]![0]!.width));
  const rows = Array.from({ length: n }, (_, i) => cols.map((c) => upscale(c[i]!, scale)));
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, await labelledGridPng(rows, columns.map((c) => c.label)));
  return path;
}

/** Nearest-neighbour upscaling by an integer factor (so small samples stay readable in a grid). */
function upscale(img: Image, f: number): Image {
  if (f === 1) return img;
  const W = img.width * f, H = img.height * f, data = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let k = 0; k < 3; k++) data[(y * W + x) * 3 + k] = img.data[((Math.floor(y / f) * img.width) + Math.floor(x / f)) * 3 + k]!;
  return { width: W, height: H, channels: 3, data };
}
