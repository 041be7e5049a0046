/**
 * The dental recipe's models, composed from the plugins: a VAE, a word-level tokenizer and
 * CLIP-style text encoder, a UNet, and the ctrLoRA base ControlNet with one LoRA set per
 * condition. Also the base's files: every model as f16 safetensors, the sizes, the tokenizer,
 * and the per-condition LoRA sets of stage 1 (each with its own zero convs and norms).
 *
 *   <base>/model.json              sizes (DentalSizes) and the base conditions
 *   <base>/tokenizer.json          word-level vocab
 *   <base>/vae.safetensors  text-encoder.safetensors  unet.safetensors  controlnet.safetensors
 *   <base>/lora-<condition>.safetensors   a base condition's LoRA + zero convs + norms
 *   <base>/manifest.json           command, seed, steps, wall time, losses, sha256 of every file
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../../../core/backend.ts';
import { ArgumentError } from '../../../core/errors.ts';
import { saveModule, loadModule } from '../../../core/io/checkpoint.ts';
import { writeFileAtomic } from '../../../core/io/atomic.ts';
import type { Module } from '../../../core/nn/module.ts';
import { CtrLoraBaseControlNet } from '../../../plugins/controlnet/index.ts';
import { DiffusionPipeline } from '../../../plugins/diffusion/index.ts';
import { LoraModel, selectCtrloraTrainable } from '../../../plugins/lora/index.ts';
import { schedulerPlugins } from '../../../plugins/schedulers/index.ts';
import { ClipTextModel, WordTokenizer } from '../../../plugins/text-encoder/index.ts';
import { UNet2DConditionModel } from '../../../plugins/unet/index.ts';
import { AutoencoderKL } from '../../../plugins/vae/index.ts';
import { promptFor } from '../prompt.ts';
import { JAWS, VIEWS } from '../scene.ts';
import { type DentalSizes, SCHEDULE, checkSizes } from './sizes.ts';

/** The conditions the base ControlNet is pretrained on (stage 1). Lighting and blends are new in stage 2. */
export const BASE_CONDITIONS = ['depth', 'normal', 'edges', 'segmentation'] as const;
export type BaseCondition = (typeof BASE_CONDITIONS)[number];

/** How condition pixels reach our VAE: [-1, 1] like targets (our VAE is trained on both that way). */
export const CONDITION_RANGE = 'minusOneOne' as const;

/** The tokenizer of every prompt the template makes (jaw x view), so it never depends on the data. */
export function dentalTokenizer(contextLength: number): WordTokenizer {
  const prompts = JAWS.flatMap((j) => VIEWS.map((v) => promptFor(j, v)));
  return WordTokenizer.fromCorpus(prompts, { contextLength });
}

export interface BuildOptions {
  backend?: Backend;
  seed?: number;
}

export function buildVae(sizes: DentalSizes, o: BuildOptions = {}): AutoencoderKL {
  return new AutoencoderKL({ ...sizes.vae }, { backend: o.backend, seed: (o.seed ?? 0) + 1 });
}

export function buildTextModels(sizes: DentalSizes, o: BuildOptions = {}): { tokenizer: WordTokenizer; textEncoder: ClipTextModel } {
  const tokenizer = dentalTokenizer(sizes.contextLength);
  if (tokenizer.vocabSize > sizes.textEncoder.vocabSize) {
    throw new ArgumentError(`model sizes: the prompt vocab has ${tokenizer.vocabSize} words, more than textEncoder.vocabSize ${sizes.textEncoder.vocabSize}`);
  }
  return { tokenizer, textEncoder: new ClipTextModel({ ...sizes.textEncoder }, {}, { backend: o.backend, seed: (o.seed ?? 0) + 2 }) };
}

export function buildUnet(sizes: DentalSizes, o: BuildOptions = {}): UNet2DConditionModel {
  return new UNet2DConditionModel({ ...sizes.unet }, { backend: o.backend, seed: (o.seed ?? 0) + 3 });
}

/** LoRA on every Linear of the ControlNet, CtrLoRA's set, scale 1. */
export function loraConfig(sizes: DentalSizes, seed = 0) {
  return { rank: sizes.loraRank, targetModules: 'all' as const, seed };
}

/** The names a condition's adapter file holds besides its LoRA weights: the zero convs and transformer norms. */
export function adapterExtras(controlnet: CtrLoraBaseControlNet, adapter: string): string[] {
  const set = selectCtrloraTrainable(controlnet, { adapter, apply: false });
  return set.names.filter((n) => set.groups.get(n) !== 'lora');
}

/** Every model of a base, loaded and frozen, ready for an adapter or for sampling. */
export interface DentalBase {
  dir: string;
  sizes: DentalSizes;
  vae: AutoencoderKL;
  tokenizer: WordTokenizer;
  textEncoder: ClipTextModel;
  unet: UNet2DConditionModel;
  controlnet: CtrLoraBaseControlNet;
  lora: LoraModel;
  /** Base conditions whose LoRA sets were loaded (stage 1's). */
  conditions: string[];
  /** Each loaded set's LoRA + zero convs + norms, copied when loaded: `activate` puts one back in place. */
  snapshots: Map<string, ReturnType<LoraModel['adapterStateDict']>>;
}

/**
 * Makes adapter `name` the only active one and puts its own zero convs and norms back (they live
 * in the shared modules, so another condition's load or activation replaced them).
 */
export function activateAdapter(base: Pick<DentalBase, 'lora' | 'snapshots'>, name: string): void {
  const snap = base.snapshots.get(name);
  if (!snap) throw new ArgumentError(`adapter "${name}" is not loaded (loaded: ${[...base.snapshots.keys()].join(', ') || 'none'})`);
  base.lora.setActiveAdapters([name]);
  base.lora.loadAdapterStateDict(name, snap);
}

/** Loads an adapter file into the base and records its snapshot; returns its name. */
export async function loadAdapterFile(base: Pick<DentalBase, 'lora' | 'snapshots' | 'controlnet'>, path: string): Promise<string> {
  if (!existsSync(path)) throw new ArgumentError(`adapter file ${path} does not exist`);
  const name = await base.lora.loadAdapter(path);
  base.snapshots.set(name, base.lora.adapterStateDict(name, { include: adapterExtras(base.controlnet, name), copy: true }));
  return name;
}

export interface BaseModelJson {
  format: 'ctrlora-ts/dental-base';
  version: 1;
  sizes: DentalSizes;
  conditions: string[];
}

const F16 = { dtype: 'F16' as const };

/** Writes a model as f16 safetensors. */
export async function saveF16(path: string, module: Module): Promise<void> {
  await saveModule(path, module, F16);
}

export async function writeModelJson(dir: string, sizes: DentalSizes, conditions: readonly string[]): Promise<void> {
  const json: BaseModelJson = { format: 'ctrlora-ts/dental-base', version: 1, sizes, conditions: [...conditions] };
  await writeFileAtomic(join(dir, 'model.json'), new TextEncoder().encode(`${JSON.stringify(json, null, 1)}\n`));
}

export function readModelJson(dir: string): BaseModelJson {
  const path = join(dir, 'model.json');
  if (!existsSync(path)) throw new ArgumentError(`dental base: ${path} does not exist (a base folder holds model.json and the models' safetensors; \`npm run dental -- pretrain\` makes one)`);
  let json: BaseModelJson;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as BaseModelJson;
  } catch (e) {
    throw new ArgumentError(`dental base: ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (json?.format !== 'ctrlora-ts/dental-base' || json.version !== 1) throw new ArgumentError(`dental base: ${path} is not a dental base description (format ${JSON.stringify(json?.format)})`);
  checkSizes(json.sizes, path);
  return json;
}

async function loadInto(path: string, module: Module, backend?: Backend): Promise<void> {
  if (!existsSync(path)) throw new ArgumentError(`dental base: missing ${path}`);
  await loadModule(path, module, { backend });
}

/** Loads a base folder: every model frozen, each base condition's LoRA set as an adapter (none active). */
export async function loadBase(dir: string, o: BuildOptions = {}): Promise<DentalBase> {
  const { sizes, conditions } = readModelJson(dir);
  const vae = buildVae(sizes, o);
  const { tokenizer, textEncoder } = buildTextModels(sizes, o);
  const unet = buildUnet(sizes, o);
  await loadInto(join(dir, 'vae.safetensors'), vae, o.backend);
  await loadInto(join(dir, 'text-encoder.safetensors'), textEncoder, o.backend);
  await loadInto(join(dir, 'unet.safetensors'), unet, o.backend);
  const controlnet = CtrLoraBaseControlNet.fromUnet(unet, { backend: o.backend });
  await loadInto(join(dir, 'controlnet.safetensors'), controlnet, o.backend);
  const lora = new LoraModel(controlnet);
  const base: DentalBase = { dir, sizes, vae, tokenizer, textEncoder, unet, controlnet, lora, conditions: [], snapshots: new Map() };
  for (const c of conditions) {
    const path = join(dir, `lora-${c}.safetensors`);
    if (!existsSync(path)) continue;
    await loadAdapterFile(base, path);
    base.conditions.push(c);
  }
  lora.setActiveAdapters([]);
  for (const m of [vae, textEncoder, unet, controlnet]) m.freeze();
  return base;
}

/** The sampling pipeline over a base (DDIM configured as SD1.5: no clipping, steps offset 1). */
export function pipelineFor(m: Pick<DentalBase, 'vae' | 'unet' | 'textEncoder' | 'tokenizer'> & { controlnet?: CtrLoraBaseControlNet }): DiffusionPipeline {
  return new DiffusionPipeline({ vae: m.vae, unet: m.unet, textEncoder: m.textEncoder, tokenizer: m.tokenizer, controlnet: m.controlnet, schedulers: schedulerPlugins }, {
    schedulerConfig: { betaSchedule: SCHEDULE.betaSchedule, betaStart: SCHEDULE.betaStart, betaEnd: SCHEDULE.betaEnd, numTrainTimesteps: SCHEDULE.numTrainTimesteps },
    schedulerOverrides: { ddim: { clipSample: false, setAlphaToOne: false, stepsOffset: 1 } },
    conditionRange: CONDITION_RANGE,
  });
}
