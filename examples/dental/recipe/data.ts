/**
 * The dental dataset as tensors for the trainer's DataLoader: each sample is its target
 * ([3, H, W] in [-1, 1]), its prompt, a key naming it, and the condition images the stage asks
 * for ([3, H, W] in [0, 1]). Conditions are named: a map the generator writes (`depth`,
 * `normal`, `edges`, `segmentation`, `lighting`), `source` (the dataset's own condition image),
 * or `blend` (lighting and segmentation through the chosen blender, made on the fly). With an
 * extractor (canny, soft edges, a user's own) `source` is made from the target render instead.
 */
import type { Backend } from '../../../core/backend.ts';
import { ArgumentError } from '../../../core/errors.ts';
import { noGrad } from '../../../core/autograd.ts';
import { stack } from '../../../core/ops/concat.ts';
import { tensor } from '../../../core/ops/creation.ts';
import type { ConditionBlender, ConditionExtractor, Image } from '../../../core/plugins/tokens.ts';
import type { Tensor } from '../../../core/tensor.ts';
import { DentalDataset, type DentalSample } from '../dataset.ts';

export const MAP_CONDITIONS = ['depth', 'normal', 'edges', 'segmentation', 'lighting'] as const;
export const CONDITION_NAMES = [...MAP_CONDITIONS, 'blend', 'source'] as const;
export type ConditionName = (typeof CONDITION_NAMES)[number];

export function checkConditionName(name: string, where = '--condition'): ConditionName {
  if (!(CONDITION_NAMES as readonly string[]).includes(name)) throw new ArgumentError(`${where}: unknown condition "${name}" (known: ${CONDITION_NAMES.join(', ')})`);
  return name as ConditionName;
}

/** One sample as the recipe's stages take it. */
export interface DentalItem {
  key: string;
  prompt: string;
  /** [3, H, W] in [-1, 1]. */
  target: Tensor;
  /** [3, H, W] in [0, 1], by condition name. */
  conditions: Record<string, Tensor>;
}

/** One tensor of each item of a batch (picked with its index), stacked on a new first axis, outside the graph. */
export function stackItems(items: readonly DentalItem[], pick: (it: DentalItem, i: number) => Tensor): Tensor {
  return noGrad(() => stack(items.map(pick), 0));
}

/** HWC float image -> [C, H, W] tensor. */
export function imageToTensor(img: Image, backend?: Backend): Tensor {
  const { width: W, height: H, channels: C } = img;
  const out = new Float32Array(C * H * W);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < C; c++) out[c * H * W + y * W + x] = img.data[(y * W + x) * C + c]!;
  return tensor(out, [C, H, W], { backend });
}

export interface DentalTensorOptions {
  size: number;
  split: 'train' | 'val' | 'all';
  conditions: readonly string[];
  /** Needed for the `blend` condition. */
  blender?: ConditionBlender;
  blenderOptions?: Readonly<Record<string, unknown>>;
  /** Makes the `source` condition from the target render. */
  extractor?: ConditionExtractor;
  extractorOptions?: Readonly<Record<string, unknown>>;
  valFraction?: number;
  backend?: Backend;
}

/** The conditions of a sample, by name. */
export function conditionImages(s: DentalSample, names: readonly string[], o: Pick<DentalTensorOptions, 'blender' | 'blenderOptions'>): Record<string, Image> {
  const out: Record<string, Image> = {};
  for (const name of names) {
    const c = checkConditionName(name);
    let img: Image | undefined;
    if (c === 'source') img = s.condition;
    else if (c === 'lighting') img = s.lighting;
    else if (c === 'segmentation') img = s.segmentation;
    else if (c === 'blend') {
      if (!o.blender) throw new ArgumentError('the blend condition needs a blender (--blender)');
      if (!s.lighting || !s.segmentation) throw new ArgumentError(`sample ${s.name}: the blend condition needs its lighting and segmentation maps`);
      img = o.blender.blend(s.lighting, s.segmentation, o.blenderOptions);
    } else img = s.maps?.[c];
    if (!img) throw new ArgumentError(`sample ${s.name}: no ${c} map in the dataset (generate writes every map; a CtrLoRA-layout set has only "source")`);
    out[name] = img;
  }
  return out;
}

/** A DentalDataset served as DentalItems (tensors), for the DataLoader. */
export class DentalTensorDataset {
  readonly name = 'dental-tensors';
  private constructor(readonly dataset: DentalDataset, private readonly o: DentalTensorOptions) {}

  static async open(dir: string, o: DentalTensorOptions): Promise<DentalTensorDataset> {
    const extra = o.conditions.filter((c) => ['depth', 'normal', 'edges'].includes(c));
    const ds = await DentalDataset.open(dir, {
      width: o.size, height: o.size, split: o.split, valFraction: o.valFraction ?? 0.1, maps: [...new Set(extra)],
      ...(o.extractor ? { extractor: o.extractor, extractorOptions: o.extractorOptions } : {}),
    });
    return new DentalTensorDataset(ds, o);
  }

  get length(): number {
    return this.dataset.length;
  }

  async get(index: number): Promise<DentalItem> {
    const s = await this.dataset.get(index);
    const images = conditionImages(s, this.o.conditions, this.o);
    const conditions: Record<string, Tensor> = {};
    for (const [k, img] of Object.entries(images)) conditions[k] = imageToTensor(img, this.o.backend);
    return { key: s.name, prompt: s.prompt, target: imageToTensor(s.target, this.o.backend), conditions };
  }

  /** Samples `indices` stacked: targets [N, 3, H, W], each condition [N, 3, H, W]. */
  async batch(indices: readonly number[]): Promise<{ keys: string[]; prompts: string[]; targets: Tensor[]; conditions: Record<string, Tensor[]> }> {
    const items = await Promise.all(indices.map((i) => this.get(i)));
    const conditions: Record<string, Tensor[]> = {};
    for (const c of this.o.conditions) conditions[c] = items.map((it) => it.conditions[c]!);
    return { keys: items.map((i) => i.key), prompts: items.map((i) => i.prompt), targets: items.map((i) => i.target), conditions };
  }
}
