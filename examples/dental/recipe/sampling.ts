/**
 * `sample`: images from the base with one adapter or several (CtrLoRA's multi-condition
 * inference: each condition runs the base ControlNet with its own LoRA set, zero convs and
 * norms, and the residuals are summed with the given weights), on validation samples or on
 * given condition images. Writes a grid (inputs | output | [no control] | target), the single
 * images, and metrics.json with PSNR/SSIM against the targets when there are targets.
 */
import { mkdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import sharp from 'sharp';
import type { Backend } from '../../../core/backend.ts';
import { ArgumentError } from '../../../core/errors.ts';
import { writeFileAtomic } from '../../../core/io/atomic.ts';
import { concat } from '../../../core/ops/concat.ts';
import type { SampleCondition } from '../../../core/index.ts';
import type { ConditionBlender, ConditionExtractor } from '../../../core/plugins/tokens.ts';
import type { Tensor } from '../../../core/tensor.ts';
import { toRgb8 } from '../../../plugins/diffusion/images.ts';
import type { PluginContainer } from '../../../core/plugins/container.ts';
import { blenderByName } from '../../../plugins/blenders/index.ts';
import { extractorByName } from '../../../plugins/conditions/index.ts';
import { bundledPlugins } from '../recipe-file.ts';
import { parseSampleName, promptFor } from '../prompt.ts';
import { readAdapterInfo } from './adapter.ts';
import { DentalTensorDataset, imageToTensor } from './data.ts';
import { type EvalSet, loadEvalSet, quality, sampleSet, writeComparisonGrid } from './evaluate.ts';
import { activateAdapter, loadAdapterFile, loadBase, pipelineFor } from './models.ts';

export interface AdapterRef {
  /** An adapter file written by `train`, or `base:<condition>` for one of the base's own sets. */
  path: string;
  weight: number;
}

export interface SampleCommandOptions {
  base: string;
  adapters: AdapterRef[];
  out: string;
  backend?: Backend;
  /** Validation samples of a dataset folder... */
  data?: string;
  split: 'train' | 'val' | 'all';
  count: number;
  /** ...or condition images (one adapter only), prompts from their names or `prompt`. */
  images?: string[];
  prompt?: string;
  scheduler: string;
  steps: number;
  guidanceScale: number;
  controlStrength: number;
  seed: number;
  /** Also sample with no control (same seed): the base alone, for comparison. */
  baseline: boolean;
  /** Overrides the blender an adapter was trained with (blend conditions). */
  blender?: ConditionBlender;
  /**
   * Where the blender and extractor names in adapter.json files are looked up (a `--recipe`'s
   * container, so a user's own plugins resolve); default: the bundled plugins.
   */
  plugins?: PluginContainer;
}

export interface SampleCommandResult {
  grid: string;
  images: string[];
  metrics: Record<string, number> | null;
}

/** `a.safetensors:0.7` -> { path, weight 0.7 }; the weight defaults to 1. */
export function parseAdapterRef(spec: string): AdapterRef {
  const m = /^(.*?)(?::(-?\d+(?:\.\d+)?))?$/.exec(spec)!;
  const weight = m[2] === undefined ? 1 : Number(m[2]);
  if (!m[1]) throw new ArgumentError(`--adapter: empty path in "${spec}"`);
  return { path: m[1], weight };
}

async function readConditionImage(path: string, size: number, backend?: Backend): Promise<Tensor> {
  let raw;
  try {
    raw = await sharp(path).removeAlpha().toColourspace('srgb').resize(size, size, { fit: 'cover' }).raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ArgumentError(`--image ${path}: unreadable image (${(e as Error).message})`);
  }
  const data = Float32Array.from(raw.data, (v) => v / 255);
  const t = imageToTensor({ width: size, height: size, channels: 3, data }, backend);
  return t.reshape([1, ...t.shape]);
}

export async function sampleCommand(o: SampleCommandOptions): Promise<SampleCommandResult> {
  if (!o.adapters.length) throw new ArgumentError('sample: give at least one --adapter (a file from `train`, or base:<condition>)');
  const base = await loadBase(o.base, { backend: o.backend });
  const plugins = o.plugins ?? bundledPlugins();
  const used: Array<{
    name: string; condition: string; weight: number; blender?: ConditionBlender; blenderOptions?: Record<string, unknown>;
    extractor?: ConditionExtractor; extractorOptions?: Record<string, unknown>;
  }> = [];
  for (const ref of o.adapters) {
    if (ref.path.startsWith('base:')) {
      const c = ref.path.slice(5);
      if (!base.conditions.includes(c)) throw new ArgumentError(`--adapter ${ref.path}: the base has no "${c}" set (it has ${base.conditions.join(', ') || 'none'})`);
      used.push({ name: c, condition: c, weight: ref.weight });
      continue;
    }
    const info = readAdapterInfo(ref.path);
    if (base.snapshots.has(info.name)) base.lora.deleteAdapter(info.name); // a base set of the same name: the file's replaces it
    const name = await loadAdapterFile(base, ref.path);
    const blender = o.blender ?? (info.blender ? blenderByName(plugins, info.blender) : undefined);
    const extractor = info.extractor ? extractorByName(plugins, info.extractor) : undefined;
    used.push({ name, condition: info.condition, weight: ref.weight, blender, blenderOptions: info.blenderOptions, extractor, extractorOptions: info.extractorOptions });
  }
  if (new Set(used.map((u) => u.name)).size !== used.length) throw new ArgumentError('sample: the same adapter is given twice');

  // The inputs: validation samples (conditions and targets) or condition images.
  let set: EvalSet;
  let names: string[];
  const size = base.sizes.imageSize;
  if (o.images?.length) {
    if (used.length !== 1) throw new ArgumentError('sample: --image gives the condition of one adapter; with several adapters sample a dataset (--data)');
    const images = await Promise.all(o.images.map((p) => readConditionImage(p, size, o.backend)));
    const prompts = o.images.map((p) => {
      if (o.prompt) return o.prompt;
      try {
        const { jaw, view } = parseSampleName(basename(p));
        return promptFor(jaw, view);
      } catch (e) {
        throw new ArgumentError(`--image ${p}: ${(e as Error).message}; or give --prompt`);
      }
    });
    set = { keys: o.images, prompts, targets: concat(images.map(() => images[0]!.mul(0)), 0), conditions: { [used[0]!.condition]: concat(images, 0) } };
    names = o.images.map((p) => basename(p, extname(p)));
  } else {
    if (!o.data) throw new ArgumentError('sample: give --data DIR (a dataset folder) or --image FILE');
    const byCondition = new Map<string, (typeof used)[number]>();
    for (const u of used) byCondition.set(u.condition, u);
    if (byCondition.size !== used.length) throw new ArgumentError('sample: two adapters of the same condition');
    const blendUser = used.find((u) => u.condition === 'blend');
    const extractUser = used.find((u) => u.extractor);
    const ds = await DentalTensorDataset.open(o.data, {
      size, split: o.split, conditions: used.map((u) => u.condition), blender: blendUser?.blender, blenderOptions: blendUser?.blenderOptions,
      extractor: extractUser?.extractor, extractorOptions: extractUser?.extractorOptions, backend: o.backend,
    });
    set = await loadEvalSet(ds, o.count);
    names = set.keys.map((k) => basename(k, extname(k)));
  }
  const hasTargets = !o.images?.length;

  const pipeline = pipelineFor(base);
  const conditions: SampleCondition[] = used.map((u) => ({ image: set.conditions[u.condition]!, weight: u.weight, activate: () => activateAdapter(base, u.name) }));
  const settings = { scheduler: o.scheduler, steps: o.steps, guidanceScale: o.guidanceScale, seed: o.seed, controlStrength: o.controlStrength };
  const output = sampleSet(pipeline, set, conditions, settings);
  const baseline = o.baseline ? sampleSet(pipeline, set, [], settings) : null;

  await mkdir(join(o.out, 'images'), { recursive: true });
  const written: string[] = [];
  for (let i = 0; i < names.length; i++) {
    const { data, width, height } = toRgb8(output, i);
    const path = join(o.out, 'images', `${names[i]}.png`);
    await writeFileAtomic(path, await sharp(Buffer.from(data), { raw: { width, height, channels: 3 } }).png().toBuffer());
    written.push(path);
  }
  const columns = [
    ...used.map((u) => ({ label: `${u.condition}${used.length > 1 ? ` x${u.weight}` : ''}`, images: set.conditions[u.condition]! })),
    { label: 'output', images: output },
    ...(baseline ? [{ label: 'no control', images: baseline }] : []),
    ...(hasTargets ? [{ label: 'target', images: set.targets }] : []),
  ];
  const grid = await writeComparisonGrid(join(o.out, 'grid.png'), columns);
  let metrics: Record<string, number> | null = null;
  if (hasTargets) {
    const q = quality(output, set.targets);
    metrics = { psnr: q.psnr, ssim: q.ssim, count: set.prompts.length };
    if (baseline) {
      const b = quality(baseline, set.targets);
      metrics.psnr_no_control = b.psnr;
      metrics.ssim_no_control = b.ssim;
    }
    await writeFileAtomic(join(o.out, 'metrics.json'), new TextEncoder().encode(`${JSON.stringify({ ...metrics, adapters: used.map((u) => ({ name: u.name, condition: u.condition, weight: u.weight })), samples: names, settings }, null, 1)}\n`));
  }
  return { grid, images: written, metrics };
}
