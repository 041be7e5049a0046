/**
 * Stage 2, the seed's recipe: a new condition (by default lighting blended with segmentation)
 * learnt as a cheap ctrLoRA adapter on the frozen base. Trainable: the condition's LoRA on every
 * Linear of the base ControlNet, the zero convs and the transformer norms (CtrLoRA's set);
 * the VAE, text encoder, UNet and the ControlNet's shared weights stay frozen.
 *
 *   <out>/adapter.safetensors   the adapter (LoRA + zero convs + norms, f16), loadable by `sample`
 *   <out>/adapter.json          its condition, blender and options, the base it was trained on
 *   <out>/events.jsonl  loss.png  checkpoints/  samples/ (validation grids input | output | target)
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Backend } from '../../../core/backend.ts';
import { ArgumentError } from '../../../core/errors.ts';
import { writeFileAtomic } from '../../../core/io/atomic.ts';
import type { ConditionBlender, ConditionExtractor } from '../../../core/plugins/tokens.ts';
import type { Tensor } from '../../../core/tensor.ts';
import { DataLoader } from '../../../core/train/data-loader.ts';
import { LatentCache } from '../../../plugins/diffusion/latent-cache.ts';
import { diffusionTrainingStep } from '../../../plugins/diffusion/train-step.ts';
import { selectCtrloraTrainable } from '../../../plugins/lora/index.ts';
import { DDPMScheduler } from '../../../plugins/schedulers/index.ts';
import { type DentalItem, DentalTensorDataset, checkConditionName, stackItems } from './data.ts';
import { loadEvalSet, quality, sampleSet, writeComparisonGrid } from './evaluate.ts';
import { CONDITION_RANGE, adapterExtras, loadBase, loraConfig, pipelineFor } from './models.ts';
import { type DiffusionRunOptions, type StageResult, type TrainingOptions, runStage } from './run.ts';
import { SCHEDULE, latentSide } from './sizes.ts';
import { checkToothLossWeight, toothLossWeights } from './tooth-loss.ts';

export interface AdapterOptions extends DiffusionRunOptions {
  data: string;
  out: string;
  base: string;
  backend?: Backend;
  condition: string;
  blender?: ConditionBlender;
  blenderName?: string;
  blenderOptions?: Readonly<Record<string, unknown>>;
  /** Makes the condition from the target render (condition `source`): canny, soft edges, a user's extractor. */
  extractor?: ConditionExtractor;
  extractorOptions?: Readonly<Record<string, unknown>>;
  training: TrainingOptions;
  scheduler: string;
  /** The improved variant: weight the loss toward the teeth (tooth-loss.ts); 0 or absent: the plain loss. */
  toothLossWeight?: number;
}

/** What `adapter.json` records beside an adapter file. */
export interface AdapterInfo {
  format: 'ctrlora-ts/dental-adapter';
  version: 1;
  /** The adapter's name inside the file (its LoRA keys). */
  name: string;
  condition: string;
  blender: string | null;
  blenderOptions: Record<string, unknown>;
  /** The extractor that made a `source` condition from the target render, or null. */
  extractor?: string | null;
  extractorOptions?: Record<string, unknown>;
  /** The base folder it was trained on, as given to `train` (for the record: `sample` takes --base). */
  base: string;
  steps: number;
  metrics: Record<string, number>;
  /** Present when the adapter was trained with the tooth-weighted loss. */
  toothLossWeight?: number;
}

export function readAdapterInfo(adapterPath: string): AdapterInfo {
  const path = adapterPath.replace(/\.safetensors$/, '.json');
  if (!existsSync(path)) throw new ArgumentError(`adapter ${adapterPath}: no ${path} beside it (it names the adapter's condition; \`train\` writes both)`);
  const info = JSON.parse(readFileSync(path, 'utf8')) as AdapterInfo;
  if (info?.format !== 'ctrlora-ts/dental-adapter') throw new ArgumentError(`adapter ${adapterPath}: ${path} is not a dental adapter description`);
  return info;
}

export async function trainAdapter(o: AdapterOptions): Promise<StageResult & { adapterPath: string; metrics: Record<string, number> }> {
  const condition = checkConditionName(o.condition);
  if (o.extractor && condition !== 'source') throw new ArgumentError(`--extractor ${o.extractor.name} makes the "source" condition; --condition is "${condition}"`);
  const t = o.training;
  const toothWeight = checkToothLossWeight(o.toothLossWeight ?? 0);
  const base = await loadBase(o.base, { backend: o.backend });
  const { vae, unet, textEncoder, tokenizer, controlnet, lora, sizes } = base;
  // A fresh set for the new condition; the base conditions' sets are not used here.
  for (const c of base.conditions) lora.deleteAdapter(c);
  const name = condition;
  lora.addAdapter(name, loraConfig(sizes, t.seed + 1000));
  const trainable = selectCtrloraTrainable(controlnet, { adapter: name });
  const open = (split: 'train' | 'val') => DentalTensorDataset.open(o.data, {
    size: sizes.imageSize, split, conditions: toothWeight && condition !== 'segmentation' ? [condition, 'segmentation'] : [condition],
    blender: o.blender, blenderOptions: o.blenderOptions, extractor: o.extractor, extractorOptions: o.extractorOptions, backend: o.backend,
  });
  const train = await open('train');
  const val = await loadEvalSet(await open('val'), o.validationCount);
  const scheduler = new DDPMScheduler({ betaSchedule: SCHEDULE.betaSchedule, betaStart: SCHEDULE.betaStart, betaEnd: SCHEDULE.betaEnd, numTrainTimesteps: SCHEDULE.numTrainTimesteps });
  const targets = new LatentCache(vae, { range: 'zeroOne' }); // targets are in [-1, 1] already
  const conditions = new LatentCache(vae, { range: CONDITION_RANGE });
  const models = { vae, unet, scheduler, textEncoder, tokenizer, controlnet };
  const pipeline = pipelineFor({ vae, unet, textEncoder, tokenizer, controlnet });
  const evaluate = async (path: string | null): Promise<Record<string, number>> => {
    const images = sampleSet(pipeline, val, [{ image: val.conditions[condition]! }], { scheduler: o.scheduler, steps: o.validationSteps, guidanceScale: o.guidanceScale, seed: t.seed });
    if (path) await writeComparisonGrid(path, [{ label: `input (${condition})`, images: val.conditions[condition]! }, { label: 'output', images }, { label: 'target', images: val.targets }]);
    const q = quality(images, val.targets);
    return { psnr: q.psnr, ssim: q.ssim };
  };
  /** The latest validation's metrics (the trainer validates after the last step too). */
  let last: { step: number; metrics: Record<string, number> | null } = { step: -1, metrics: null };
  const data = new DataLoader(train, { batchSize: t.batchSize, seed: t.seed, shuffle: true, prefetch: 2, collate: (items: DentalItem[]) => items });
  const r = await runStage<DentalItem[]>({
    name: `adapter-${condition}`, outDir: o.out, models: { controlnet }, parameters: trainable.parameters, data,
    trainingStep: (batch, ctx) => {
      const keys = batch.map((b) => b.key);
      return diffusionTrainingStep(models, {
        latents: targets.latents(keys, stackItems(batch, (it) => it.target), ctx.generator),
        conditionLatents: conditions.latents(keys, stackItems(batch, (it) => it.conditions[condition]!), ctx.generator),
        prompts: batch.map((b) => b.prompt),
        lossWeights: toothWeight ? toothLossWeights(stackItems(batch, (it) => it.conditions.segmentation!), latentSide(sizes), toothWeight) : undefined,
      }, { generator: ctx.generator, promptDropout: o.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset }).loss;
    },
    validate: async (ctx) => {
      const path = join(ctx.samplesDir, `step-${String(ctx.step).padStart(6, '0')}.png`);
      last = { step: ctx.step, metrics: await evaluate(path) };
      return { metrics: last.metrics ?? undefined, samplePaths: [path] };
    },
    config: {
      stage: 'adapter', condition, blender: o.blenderName ?? null, blenderOptions: o.blenderOptions ?? {},
      ...(o.extractor ? { extractor: o.extractor.name, extractorOptions: o.extractorOptions ?? {} } : {}), base: resolve(o.base), sizes,
      promptDropout: o.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset, ...(toothWeight ? { toothLossWeight: toothWeight } : {}),
    },
  }, t);
  const metrics = last.step === r.step && last.metrics ? last.metrics : await evaluate(null);
  await mkdir(o.out, { recursive: true });
  const adapterPath = join(o.out, 'adapter.safetensors');
  await lora.saveAdapter(adapterPath, name, { include: adapterExtras(controlnet, name), dtype: 'F16' });
  const info: AdapterInfo = {
    format: 'ctrlora-ts/dental-adapter', version: 1, name, condition, blender: condition === 'blend' ? o.blenderName ?? null : null,
    blenderOptions: { ...(o.blenderOptions ?? {}) }, extractor: o.extractor?.name ?? null, extractorOptions: { ...(o.extractorOptions ?? {}) },
    base: o.base, steps: r.step, metrics, ...(toothWeight ? { toothLossWeight: toothWeight } : {}),
  };
  await writeFileAtomic(join(o.out, 'adapter.json'), new TextEncoder().encode(`${JSON.stringify(info, null, 1)}\n`));
  return { ...r, adapterPath, metrics };
}
