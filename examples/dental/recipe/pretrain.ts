/**
 * Stage 1, the base a model hub would hand us, trained here in three resumable stages:
 *
 *   vae         a small KL autoencoder on targets and condition maps alike (everything in
 *               [-1, 1]); at the end its latent scaling factor is measured (1 / std, as SD's
 *               0.18215 was) and PSNR is reported per kind of image;
 *   t2i         a small text encoder + UNet, text-to-image on the targets (prompts from the file
 *               names, 10% dropped for classifier-free guidance), on the frozen VAE's latents;
 *   controlnet  the ctrLoRA base ControlNet, initialised from the UNet, on the base conditions
 *               (depth, normal, edges, segmentation): one LoRA set per condition, the batch's
 *               condition switched step by step, the shared part fully trained.
 *
 * Each stage writes `<out>/<stage>/` (events.jsonl, loss.png, checkpoints/, samples/) and, when
 * done, its models into `<out>/base/` and `<out>/<stage>/done.json`; `--resume latest` skips the
 * stages that are done and resumes the current one from its newest checkpoint. The finished
 * base gets a manifest (command, seed, steps, wall time, final losses, sha256 of every file).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend } from '../../../core/backend.ts';
import { ArgumentError } from '../../../core/errors.ts';
import { writeFileAtomic } from '../../../core/io/atomic.ts';
import { saveSafetensors } from '../../../core/io/safetensors.ts';
import { noGrad } from '../../../core/autograd.ts';
import { loadModule } from '../../../core/io/checkpoint.ts';
import { copyInto } from '../../../core/nn/parameter.ts';
import type { Tensor } from '../../../core/tensor.ts';
import { DataLoader } from '../../../core/train/data-loader.ts';
import { Generator } from '../../../core/random.ts';
import { CtrLoraBaseControlNet } from '../../../plugins/controlnet/index.ts';
import { LatentCache } from '../../../plugins/diffusion/latent-cache.ts';
import { psnr, meanFinite } from '../../../plugins/diffusion/metrics.ts';
import { diffusionTrainingStep } from '../../../plugins/diffusion/train-step.ts';
import { LoraModel } from '../../../plugins/lora/index.ts';
import { DDPMScheduler } from '../../../plugins/schedulers/index.ts';
import { type DentalItem, DentalTensorDataset, MAP_CONDITIONS, stackItems } from './data.ts';
import { type EvalSet, loadEvalSet, quality, sampleSet, writeComparisonGrid } from './evaluate.ts';
import {
  BASE_CONDITIONS, CONDITION_RANGE, adapterExtras, buildTextModels, buildUnet, buildVae, loraConfig, pipelineFor, readModelJson,
  saveF16, writeModelJson,
} from './models.ts';
import { type DiffusionRunOptions, type StageResult, type TrainingOptions, runStage } from './run.ts';
import { type DentalSizes, SCHEDULE, checkSizes } from './sizes.ts';

export const STAGES = ['vae', 't2i', 'controlnet'] as const;
export type Stage = (typeof STAGES)[number];

/** Per-stage defaults, chosen for the `dental` sizes on 2 cores (docs/dental.md has the measurements). */
export const STAGE_DEFAULTS: Record<Stage, { steps: number; batchSize: number; lr: number }> = {
  vae: { steps: 2000, batchSize: 8, lr: 1e-3 },
  t2i: { steps: 4000, batchSize: 8, lr: 5e-4 },
  controlnet: { steps: 3000, batchSize: 8, lr: 3e-4 },
};

/**
 * What the VAE trains on: every batch mixes kinds, item i of step s taking kind (s * batch + i)
 * in this cycle, targets half the time. (One kind per batch, switched step by step, pulls the
 * decoder toward each kind's average in turn and it settles on a blur of all of them.)
 */
const VAE_KINDS = ['target', 'depth', 'target', 'normal', 'target', 'edges', 'target', 'segmentation', 'target', 'lighting'] as const;
/**
 * The VAE's posterior starts nearly deterministic: the logvar half of quant_conv's bias starts at
 * this value (std e^-4 = 0.018) instead of 0 (std 1). With std 1 the sampled latent is mostly
 * noise, the decoder learns to ignore it, and a short run never recovers; the KL weight is tiny
 * either way, so the posterior is free to widen where it helps.
 */
const VAE_INITIAL_LOGVAR = -8;
/** SD's VAE weighs KL 1e-6 against a reconstruction summed over an image's values; ours is their mean. */
const vaeKlWeight = (imageSize: number) => 1e-6 / (3 * imageSize ** 2);

export interface PretrainOptions extends DiffusionRunOptions {
  data: string;
  out: string;
  sizes: DentalSizes;
  backend?: Backend;
  /** One stage, or all in order. */
  stage: Stage | 'all';
  /** Per stage: the common training options (steps, batch size, lr filled from STAGE_DEFAULTS unless given). */
  training: Record<Stage, TrainingOptions>;
  /** Recorded in the manifest. */
  command: string;
  log?: (line: string) => void;
}

interface DoneRecord {
  stage: Stage;
  steps: number;
  seconds: number;
  finalLoss: number;
  metrics: Record<string, number>;
}

const collate = (items: DentalItem[]) => items;
type Batch = DentalItem[];

async function openData(o: PretrainOptions, split: 'train' | 'val', conditions: readonly string[]): Promise<DentalTensorDataset> {
  return DentalTensorDataset.open(o.data, { size: o.sizes.imageSize, split, conditions, backend: o.backend });
}

function loader(ds: DentalTensorDataset, t: TrainingOptions): DataLoader<DentalItem, Batch> {
  return new DataLoader(ds, { batchSize: t.batchSize, seed: t.seed, shuffle: true, dropLast: ds.length >= t.batchSize, prefetch: 2, collate });
}

/** 1 / std of the VAE's posterior samples over (up to) 64 training targets: unit-variance latents for the UNet. */
function measureScalingFactor(vae: ReturnType<typeof buildVae>, items: DentalItem[], seed: number): number {
  return noGrad(() => {
    const g = new Generator(seed);
    let sum = 0, sq = 0, n = 0;
    for (const it of items) {
      const z = vae.encode(it.target.reshape([1, ...it.target.shape])).sample(g).toArray();
      for (const v of z) { sum += v; sq += v * v; n++; }
    }
    const mean = sum / n;
    return 1 / Math.sqrt(Math.max(1e-12, sq / n - mean * mean));
  });
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

export async function pretrain(o: PretrainOptions): Promise<{ baseDir: string; stages: Partial<Record<Stage, DoneRecord>> }> {
  const log = o.log ?? ((l: string) => console.log(l));
  checkSizes(o.sizes);
  const baseDir = join(o.out, 'base');
  await mkdir(baseDir, { recursive: true });
  const chosen = o.stage === 'all' ? [...STAGES] : [o.stage];
  const records: Partial<Record<Stage, DoneRecord>> = {};
  for (const s of STAGES) {
    const p = join(o.out, s, 'done.json');
    if (existsSync(p)) records[s] = JSON.parse(readFileSync(p, 'utf8')) as DoneRecord;
  }
  for (const stage of chosen) {
    const t = o.training[stage];
    if (records[stage] && t.resume) {
      log(`pretrain: stage ${stage} is done (${records[stage]!.steps} steps), skipped`);
      continue;
    }
    if (!t.resume && existsSync(join(o.out, stage, 'checkpoints')) && (await readdir(join(o.out, stage, 'checkpoints'))).length) {
      throw new ArgumentError(`pretrain: ${join(o.out, stage)} holds a run already; pass --resume latest to continue it, or choose another --out`);
    }
    const idx = STAGES.indexOf(stage);
    for (const before of STAGES.slice(0, idx)) {
      if (!records[before]) throw new ArgumentError(`pretrain: stage ${stage} needs stage ${before} done first (no ${join(o.out, before, 'done.json')})`);
    }
    log(`pretrain: stage ${stage}: ${t.steps} steps, batch ${t.batchSize}, lr ${t.lr}`);
    const record = stage === 'vae' ? await vaeStage(o, baseDir) : stage === 't2i' ? await t2iStage(o, baseDir) : await controlnetStage(o, baseDir);
    records[stage] = record;
    await writeFileAtomic(join(o.out, stage, 'done.json'), new TextEncoder().encode(`${JSON.stringify(record, null, 1)}\n`));
    log(`pretrain: stage ${stage} done in ${record.seconds.toFixed(0)} s, final loss ${record.finalLoss.toPrecision(4)}${Object.keys(record.metrics).length ? `, ${Object.entries(record.metrics).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}` : ''}`);
  }
  if (STAGES.every((s) => records[s])) await writeManifest(o, baseDir, records as Record<Stage, DoneRecord>);
  return { baseDir, stages: records };
}

function doneRecord(stage: Stage, r: StageResult, metrics: Record<string, number>): DoneRecord {
  return { stage, steps: r.step, seconds: r.seconds, finalLoss: r.finalLoss, metrics };
}

async function vaeStage(o: PretrainOptions, baseDir: string): Promise<DoneRecord> {
  const t = o.training.vae;
  const conditions = [...MAP_CONDITIONS];
  const train = await openData(o, 'train', conditions);
  const val = await loadEvalSet(await openData(o, 'val', conditions), o.validationCount);
  const vae = buildVae(o.sizes, { backend: o.backend, seed: t.seed });
  const logvarBias = vae.quant_conv.bias!.toArray().map((b, i) => (i < o.sizes.vae.latentChannels ? b : VAE_INITIAL_LOGVAR));
  copyInto(vae.quant_conv.bias!, logvarBias);
  const kindOf = (step: number, micro: number, i: number) => VAE_KINDS[((step - 1 + micro) * t.batchSize + i) % VAE_KINDS.length]!;
  const toVae = (it: DentalItem, kind: string) => (kind === 'target' ? it.target : it.conditions[kind]!.mul(2).sub(1));
  /** PSNR per kind over the validation set, with a grid input | reconstruction per kind. */
  const evaluate = async (path: string | null): Promise<Record<string, number>> => {
    const metrics: Record<string, number> = {};
    const columns: Array<{ label: string; images: Tensor }> = [];
    noGrad(() => {
      for (const kind of ['target', ...conditions]) {
        const x = kind === 'target' ? val.targets : val.conditions[kind]!;
        const rec = vae.decode(vae.encode(x.mul(2).sub(1)).mode()).add(1).div(2).clamp(0, 1);
        metrics[`psnr_${kind}`] = meanFinite(psnr(rec, x));
        columns.push({ label: kind, images: x }, { label: `${kind} (vae)`, images: rec });
      }
    });
    if (path) await writeComparisonGrid(path, columns);
    return metrics;
  };
  const r = await runStage<Batch>({
    name: 'vae', outDir: join(o.out, 'vae'), models: { vae }, parameters: vae.parameters(), data: loader(train, t),
    trainingStep: (batch, ctx) => {
      // L1 keeps the thin lines of the edge and segmentation maps that MSE averages away.
      const x = stackItems(batch, (it, i) => toVae(it, kindOf(ctx.step, ctx.microBatch, i)));
      return vae.loss(x, { klWeight: vaeKlWeight(o.sizes.imageSize), reconstruction: 'l1', generator: ctx.generator }).loss;
    },
    validate: async (ctx) => ({ metrics: await evaluate(join(ctx.samplesDir, `step-${String(ctx.step).padStart(6, '0')}.png`)), samplePaths: [join(ctx.samplesDir, `step-${String(ctx.step).padStart(6, '0')}.png`)] }),
    config: { stage: 'vae', sizes: o.sizes.vae, imageSize: o.sizes.imageSize, klWeight: vaeKlWeight(o.sizes.imageSize), reconstruction: 'l1', initialLogvar: VAE_INITIAL_LOGVAR, kinds: 'mixed' },
  }, t);
  const metrics = await evaluate(null);
  const sample = await Promise.all(Array.from({ length: Math.min(64, train.length) }, (_, i) => train.get(i)));
  const scalingFactor = measureScalingFactor(vae, sample, t.seed);
  metrics.scaling_factor = scalingFactor;
  const sizes: DentalSizes = { ...o.sizes, vae: { ...o.sizes.vae, scalingFactor } };
  await saveF16(join(baseDir, 'vae.safetensors'), vae);
  await writeModelJson(baseDir, sizes, []);
  return doneRecord('vae', r, metrics);
}

/** The frozen VAE of the base being built, with the measured scaling factor. */
async function baseVae(o: PretrainOptions, baseDir: string) {
  const { sizes } = readModelJson(baseDir);
  const vae = buildVae(sizes, { backend: o.backend });
  await loadModule(join(baseDir, 'vae.safetensors'), vae, { backend: o.backend });
  vae.freeze();
  return { vae, sizes };
}

function schedulerOf() {
  return new DDPMScheduler({ betaSchedule: SCHEDULE.betaSchedule, betaStart: SCHEDULE.betaStart, betaEnd: SCHEDULE.betaEnd, numTrainTimesteps: SCHEDULE.numTrainTimesteps });
}

async function t2iStage(o: PretrainOptions, baseDir: string): Promise<DoneRecord> {
  const t = o.training.t2i;
  const { vae, sizes } = await baseVae(o, baseDir);
  const { tokenizer, textEncoder } = buildTextModels(sizes, { backend: o.backend, seed: t.seed });
  const unet = buildUnet(sizes, { backend: o.backend, seed: t.seed });
  const scheduler = schedulerOf();
  const train = await openData(o, 'train', []);
  const val = await loadEvalSet(await openData(o, 'val', []), o.validationCount);
  const targets = new LatentCache(vae, { range: 'zeroOne' }); // targets are in [-1, 1] already
  const models = { vae, unet, scheduler, textEncoder, tokenizer };
  const evaluate = async (path: string | null, seed: number) => {
    const images = sampleSet(pipelineFor({ vae, unet, textEncoder, tokenizer }), val, [], { scheduler: 'ddim', steps: o.validationSteps, guidanceScale: o.guidanceScale, seed });
    if (path) await writeComparisonGrid(path, [{ label: 'sample', images }, { label: 'a target of the prompt', images: val.targets }]);
    const q = quality(images, val.targets);
    return { psnr: q.psnr, ssim: q.ssim };
  };
  const r = await runStage<Batch>({
    name: 't2i', outDir: join(o.out, 't2i'), models: { unet, textEncoder }, parameters: [...unet.parameters(), ...textEncoder.parameters()], data: loader(train, t),
    trainingStep: (batch, ctx) => diffusionTrainingStep(models, {
      latents: targets.latents(batch.map((b) => b.key), stackItems(batch, (it) => it.target), ctx.generator),
      prompts: batch.map((b) => b.prompt),
    }, { generator: ctx.generator, promptDropout: o.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset, trainTextEncoder: true }).loss,
    validate: async (ctx) => {
      const path = join(ctx.samplesDir, `step-${String(ctx.step).padStart(6, '0')}.png`);
      return { metrics: await evaluate(path, t.seed), samplePaths: [path] };
    },
    config: { stage: 't2i', sizes, promptDropout: o.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset },
  }, t);
  await saveF16(join(baseDir, 'unet.safetensors'), unet);
  await saveF16(join(baseDir, 'text-encoder.safetensors'), textEncoder);
  await tokenizer.save(join(baseDir, 'tokenizer.json'));
  return doneRecord('t2i', r, {});
}

async function controlnetStage(o: PretrainOptions, baseDir: string): Promise<DoneRecord> {
  const t = o.training.controlnet;
  const { vae, sizes } = await baseVae(o, baseDir);
  const { tokenizer, textEncoder } = buildTextModels(sizes, { backend: o.backend });
  const unet = buildUnet(sizes, { backend: o.backend });
  await loadModule(join(baseDir, 'text-encoder.safetensors'), textEncoder, { backend: o.backend });
  await loadModule(join(baseDir, 'unet.safetensors'), unet, { backend: o.backend });
  textEncoder.freeze();
  unet.freeze();
  const controlnet = CtrLoraBaseControlNet.fromUnet(unet, { backend: o.backend, seed: t.seed });
  const lora = new LoraModel(controlnet);
  BASE_CONDITIONS.forEach((c, i) => lora.addAdapter(c, loraConfig(sizes, t.seed + 100 + i), { activate: false }));
  controlnet.unfreeze(); // the shared part and every condition's LoRA set train
  const scheduler = schedulerOf();
  const train = await openData(o, 'train', BASE_CONDITIONS);
  const val = await loadEvalSet(await openData(o, 'val', BASE_CONDITIONS), o.validationCount);
  const targets = new LatentCache(vae, { range: 'zeroOne' });
  const conditionCaches = Object.fromEntries(BASE_CONDITIONS.map((c) => [c, new LatentCache(vae, { range: CONDITION_RANGE })]));
  const models = { vae, unet, scheduler, textEncoder, tokenizer, controlnet };
  const conditionOf = (step: number) => BASE_CONDITIONS[(step - 1) % BASE_CONDITIONS.length]!;
  const pipeline = pipelineFor({ vae, unet, textEncoder, tokenizer, controlnet });
  const evaluate = async (path: string | null, seed: number): Promise<Record<string, number>> => {
    const metrics: Record<string, number> = {};
    const columns: Array<{ label: string; images: Tensor }> = [];
    for (const c of BASE_CONDITIONS) {
      lora.setActiveAdapters([c]);
      const images = sampleSet(pipeline, val, [{ image: val.conditions[c]! }], { scheduler: 'ddim', steps: o.validationSteps, guidanceScale: o.guidanceScale, seed });
      const q = quality(images, val.targets);
      metrics[`psnr_${c}`] = q.psnr;
      metrics[`ssim_${c}`] = q.ssim;
      columns.push({ label: c, images: val.conditions[c]! }, { label: `from ${c}`, images });
    }
    columns.push({ label: 'target', images: val.targets });
    if (path) await writeComparisonGrid(path, columns);
    return metrics;
  };
  let last: { step: number; metrics: Record<string, number> | null } = { step: -1, metrics: null };
  const r = await runStage<Batch>({
    name: 'controlnet', outDir: join(o.out, 'controlnet'), models: { controlnet }, parameters: controlnet.parameters(), data: loader(train, t),
    trainingStep: (batch, ctx) => {
      const c = conditionOf(ctx.step);
      lora.setActiveAdapters([c]);
      const keys = batch.map((b) => b.key);
      return diffusionTrainingStep(models, {
        latents: targets.latents(keys, stackItems(batch, (it) => it.target), ctx.generator),
        conditionLatents: conditionCaches[c]!.latents(keys, stackItems(batch, (it) => it.conditions[c]!), ctx.generator),
        prompts: batch.map((b) => b.prompt),
      }, { generator: ctx.generator, promptDropout: o.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset }).loss;
    },
    validate: async (ctx) => {
      const path = join(ctx.samplesDir, `step-${String(ctx.step).padStart(6, '0')}.png`);
      last = { step: ctx.step, metrics: await evaluate(path, t.seed) };
      return { metrics: last.metrics ?? undefined, samplePaths: [path] };
    },
    config: { stage: 'controlnet', sizes, conditions: BASE_CONDITIONS, promptDropout: o.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset },
  }, t);
  const metrics = last.step === r.step && last.metrics ? last.metrics : await evaluate(null, t.seed);
  // The shared part without any LoRA weights, then one file per condition: its LoRA + zero convs + norms.
  const shared = new Map([...controlnet.stateDict()].filter(([k]) => !k.includes('.lora.')));
  await saveSafetensors(join(baseDir, 'controlnet.safetensors'), shared, { dtype: 'F16', metadata: { format: 'pt' } });
  for (const c of BASE_CONDITIONS) await lora.saveAdapter(join(baseDir, `lora-${c}.safetensors`), c, { include: adapterExtras(controlnet, c), dtype: 'F16' });
  await writeModelJson(baseDir, sizes, [...BASE_CONDITIONS]);
  return doneRecord('controlnet', r, metrics);
}

export interface BaseManifest {
  format: 'ctrlora-ts/dental-base-manifest';
  version: 1;
  command: string;
  seed: number;
  stages: Record<Stage, { steps: number; seconds: number; finalLoss: number; metrics: Record<string, number> }>;
  wallSeconds: number;
  totalBytes: number;
  files: Record<string, { bytes: number; sha256: string }>;
}

/** The manifest of a finished base: every file's size and sha256, and how it was made. */
async function writeManifest(o: PretrainOptions, baseDir: string, records: Record<Stage, DoneRecord>): Promise<void> {
  const names = (await readdir(baseDir)).filter((f) => f !== 'manifest.json' && !f.includes('.tmp-')).sort();
  const files: BaseManifest['files'] = {};
  let total = 0;
  for (const f of names) {
    const bytes = (await readFile(join(baseDir, f))).length;
    total += bytes;
    files[f] = { bytes, sha256: await sha256(join(baseDir, f)) };
  }
  const stages = Object.fromEntries(STAGES.map((s) => [s, { steps: records[s].steps, seconds: records[s].seconds, finalLoss: records[s].finalLoss, metrics: records[s].metrics }])) as BaseManifest['stages'];
  const manifest: BaseManifest = {
    format: 'ctrlora-ts/dental-base-manifest', version: 1, command: o.command, seed: o.training.vae.seed, stages,
    wallSeconds: STAGES.reduce((s, k) => s + records[k].seconds, 0), totalBytes: total, files,
  };
  await writeFileAtomic(join(baseDir, 'manifest.json'), new TextEncoder().encode(`${JSON.stringify(manifest, null, 1)}\n`));
}

/** Checks a base folder against its manifest: the same files, sizes and sha256. Returns the problems found. */
export async function verifyManifest(baseDir: string): Promise<string[]> {
  const m = JSON.parse(await readFile(join(baseDir, 'manifest.json'), 'utf8')) as BaseManifest;
  const problems: string[] = [];
  const present = (await readdir(baseDir)).filter((f) => f !== 'manifest.json').sort();
  for (const f of present) if (!m.files[f]) problems.push(`${f}: in the folder but not in the manifest`);
  for (const [f, e] of Object.entries(m.files)) {
    if (!existsSync(join(baseDir, f))) { problems.push(`${f}: in the manifest but missing`); continue; }
    const bytes = (await readFile(join(baseDir, f))).length;
    if (bytes !== e.bytes) problems.push(`${f}: ${bytes} bytes, the manifest says ${e.bytes}`);
    else if ((await sha256(join(baseDir, f))) !== e.sha256) problems.push(`${f}: sha256 differs from the manifest`);
  }
  return problems;
}
