/**
 * `ablate`: the seed's study, measured. From one base, one step budget and the same training
 * seeds, one adapter per trained arm; then every arm sampled on the same validation samples
 * with the same sampling seed and measured (ablation-metrics.ts):
 *
 *   lighting            adapter on the lighting map alone
 *   segmentation        adapter on the segmentation map alone
 *   dual                the lighting and segmentation adapters together at inference (their
 *                       residuals summed with weights; one row per weight pair; no training)
 *   blend-<blender>     adapter on lighting + segmentation through a bundled blender
 *   improved            a blend (channel-stack by default) trained with the tooth-weighted loss (tooth-loss.ts)
 *   (no-control)        the base without any condition, for scale (always evaluated)
 *
 *   <out>/arms/<arm>/seed-<s>/   each training (train's folder: adapter, events.jsonl, loss.png, ...)
 *   <out>/eval/<row>/seed-<s>.json, grid-seed-<s>.png   per-sample metrics and the grid
 *   <out>/results.json  <out>/report.html   (ablation-report.ts)
 *
 * Resumable: a training whose adapter exists with the asked step count is reused, an unfinished
 * one resumes from its latest checkpoint; an evaluation of the same adapter files, data, base and
 * sampling settings is reused.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Backend } from '../../../core/backend.ts';
import { ArgumentError } from '../../../core/errors.ts';
import { writeFileAtomic } from '../../../core/io/atomic.ts';
import type { SampleCondition } from '../../../core/index.ts';
import { blenderByName, blenderContainer, registeredBlenders } from '../../../plugins/blenders/index.ts';
import { readAdapterInfo, trainAdapter } from './adapter.ts';
import {
  type MetricName, METRIC_NAMES, type SampleMetrics, type SeedSummary, type Summary, ablationMetrics, acrossSeeds, pairedDifference, summarize, toothMasks,
} from './ablation-metrics.ts';
import { writeAblationReport } from './ablation-report.ts';
import { DentalTensorDataset } from './data.ts';
import { type EvalSet, loadEvalSet, sampleSet, type SampleSettings, writeComparisonGrid } from './evaluate.ts';
import { activateAdapter, loadAdapterFile, loadBase, pipelineFor, readModelJson } from './models.ts';
import type { BaseManifest } from './pretrain.ts';
import { type DiffusionRunOptions, loggedLosses, type TrainingOptions } from './run.ts';

const blenders = blenderContainer();
/** Every bundled blender as an arm name. */
export const BLEND_ARMS = registeredBlenders(blenders).map((b) => `blend-${b.name}`);
export const ARM_NAMES = ['lighting', 'segmentation', 'dual', ...BLEND_ARMS, 'improved'] as const;
/** What `ablate` runs without --arms: the seed's four, two more blenders, the improved variant. */
export const DEFAULT_ARMS = ['lighting', 'segmentation', 'dual', 'blend-mask-composite', 'blend-alpha', 'blend-channel-stack', 'improved'];
/** Trained on every seed (the rest: on the first seed unless allSeeds). */
export const HEADLINE_ARMS = new Set(['lighting', 'segmentation', 'dual', 'blend-mask-composite', 'improved']);
/** The improved variant by default (chosen by measurement, docs/dental.md): lighting and segmentation in separate channels (channel-stack) with the tooth-weighted loss; --improved-blender, --tooth-loss-weight. */
export const IMPROVED_DEFAULTS = { blender: 'channel-stack', toothLossWeight: 3 };
/** The row the others are compared with, sample by sample: the seed's final recipe. */
export const REFERENCE_ARM = 'blend-mask-composite';
export const DEFAULT_DUAL_WEIGHTS: ReadonlyArray<readonly [number, number]> = [[1, 1], [0.75, 0.25], [0.5, 0.5], [0.25, 0.75]];

export interface AblateOptions extends DiffusionRunOptions {
  data: string;
  out: string;
  base: string;
  backend?: Backend;
  /** Training seeds; headline arms train on each, the others on the first (unless allSeeds). */
  seeds: number[];
  allSeeds?: boolean;
  arms: string[];
  /** Every training's options (its seed is replaced by each of `seeds`; resume is always "latest"). */
  training: TrainingOptions;
  /** Validation samples every arm is measured on (the first `count` of the validation split). */
  count: number;
  sampler: SampleSettings;
  dualWeights?: ReadonlyArray<readonly [number, number]>;
  toothLossWeight?: number;
  /** The blender of the improved arm (default IMPROVED_DEFAULTS.blender). */
  improvedBlender?: string;
  /** The command line, for the report. */
  command: string;
  log?: (line: string) => void;
}

/** One row of the table, over its seeds. */
export interface AblationRow {
  id: string;
  label: string;
  kind: 'baseline' | 'trained' | 'dual';
  /** The conditions sampled (with their weights for dual rows). */
  conditions: Array<{ condition: string; weight: number; blender?: string }>;
  toothLossWeight?: number;
  headline: boolean;
  seeds: number[];
  perSeed: Array<{ seed: number; metrics: Record<MetricName, Summary>; samples: SampleMetrics[]; finalLoss?: number; trainingSeconds?: number }>;
  summary: Record<MetricName, SeedSummary>;
  /** This row minus the reference row (REFERENCE_ARM), paired by sample, seed by seed (the reference's first seed where it lacks one). */
  vsReference?: Record<MetricName, SeedSummary>;
  /** Relative to the output folder: the first seed's grid and the loss curve of each trained adapter. */
  grid: string;
  lossCurves: Array<{ label: string; path: string }>;
}

export interface AblationResults {
  format: 'ctrlora-ts/dental-ablation';
  version: 1;
  settings: {
    command: string;
    base: string;
    baseManifest: { command: string; seed: number; wallSeconds: number; stages: Record<string, { steps: number; finalLoss: number }> } | null;
    data: string;
    steps: number;
    seeds: number[];
    count: number;
    samples: string[];
    sampler: SampleSettings;
    training: { lr: number; batchSize: number; lrScheduler: string; promptDropout: number; minSnrGamma: number | null; noiseOffset: number };
    dualWeights: Array<[number, number]>;
    toothLossWeight: number;
    improvedBlender: string;
  };
  metrics: readonly MetricName[];
  /** The row `vsReference` compares with (absent when that arm was not run). */
  reference: string | null;
  rows: AblationRow[];
}

/** A training the study needs: an arm with its condition, blender and loss. */
interface Training {
  arm: string;
  condition: 'lighting' | 'segmentation' | 'blend';
  blender?: string;
  toothLossWeight?: number;
}

/** What the improved arm trains: a blend through `blender` with the tooth-weighted loss. */
interface ImprovedSpec { blender: string; toothLossWeight: number }

function trainingFor(arm: string, improved: ImprovedSpec): Training {
  if (arm === 'lighting' || arm === 'segmentation') return { arm, condition: arm };
  if (arm === 'improved') return { arm, condition: 'blend', blender: improved.blender, toothLossWeight: improved.toothLossWeight };
  if (arm.startsWith('blend-')) return { arm, condition: 'blend', blender: arm.slice(6) };
  throw new ArgumentError(`--arms: "${arm}" is not a trained arm`);
}

export function parseArms(spec: string): string[] {
  if (spec === 'all') return [...ARM_NAMES];
  const arms = spec.split(',').map((a) => a.trim()).filter(Boolean);
  for (const a of arms) if (!(ARM_NAMES as readonly string[]).includes(a)) throw new ArgumentError(`--arms: unknown arm "${a}" (known: ${ARM_NAMES.join(', ')}, or all)`);
  if (!arms.length) throw new ArgumentError('--arms: give at least one arm');
  return [...new Set(arms)];
}

/** "1:1,0.75:0.25" -> [[1, 1], [0.75, 0.25]]. */
export function parseDualWeights(spec: string): Array<[number, number]> {
  return spec.split(',').map((pair) => {
    const m = /^\s*(\d+(?:\.\d+)?):(\d+(?:\.\d+)?)\s*$/.exec(pair);
    if (!m) throw new ArgumentError(`--dual-weights: expected lighting:segmentation weight pairs like 0.75:0.25, got "${pair}"`);
    return [Number(m[1]), Number(m[2])] as [number, number];
  });
}

const json = (v: unknown) => new TextEncoder().encode(`${JSON.stringify(v, (_, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 1)}\n`);
const fromJson = (x: number | null) => (x === null ? NaN : x);

function baseManifestSummary(base: string): AblationResults['settings']['baseManifest'] {
  const path = join(base, 'manifest.json');
  if (!existsSync(path)) return null;
  const m = JSON.parse(readFileSync(path, 'utf8')) as BaseManifest;
  return {
    command: m.command, seed: m.seed, wallSeconds: m.wallSeconds,
    stages: Object.fromEntries(Object.entries(m.stages).map(([k, s]) => [k, { steps: s.steps, finalLoss: s.finalLoss }])),
  };
}

export async function ablate(o: AblateOptions): Promise<{ results: AblationResults; report: string; resultsPath: string }> {
  const log = o.log ?? ((line: string) => console.error(line));
  if (!o.seeds.length) throw new ArgumentError('--seeds: give at least one seed');
  if (new Set(o.seeds).size !== o.seeds.length) throw new ArgumentError(`--seeds: a seed is repeated (${o.seeds.join(',')})`);
  for (const a of o.arms) if (!(ARM_NAMES as readonly string[]).includes(a)) throw new ArgumentError(`--arms: unknown arm "${a}"`);
  readModelJson(o.base); // no base: say so before anything runs
  const toothWeight = o.toothLossWeight ?? IMPROVED_DEFAULTS.toothLossWeight;
  const improved: ImprovedSpec = { blender: o.improvedBlender ?? IMPROVED_DEFAULTS.blender, toothLossWeight: toothWeight };
  blenderByName(blenders, improved.blender); // an unknown name fails here, before any training
  const dualWeights = (o.dualWeights ?? DEFAULT_DUAL_WEIGHTS).map(([a, b]) => [a, b] as [number, number]);
  const seedsOf = (arm: string) => (HEADLINE_ARMS.has(arm) || o.allSeeds ? o.seeds : o.seeds.slice(0, 1));

  // 1. The trainings (dual needs the lighting and segmentation adapters).
  const trainedArms = [...new Set(o.arms.flatMap((a) => (a === 'dual' ? ['lighting', 'segmentation'] : [a])))];
  const order = ARM_NAMES.filter((a) => trainedArms.includes(a));
  const jobs = order.flatMap((arm) => seedsOf(arm).map((seed) => ({ t: trainingFor(arm, improved), seed })));
  const adapterDir = (arm: string, seed: number) => join(o.out, 'arms', arm, `seed-${seed}`);
  const trainingInfo = new Map<string, { finalLoss?: number; seconds?: number }>();
  for (const [i, { t, seed }] of jobs.entries()) {
    const dir = adapterDir(t.arm, seed), key = `${t.arm}/${seed}`;
    const tag = `ablate: [${i + 1}/${jobs.length}] ${t.arm} seed ${seed}`;
    const adapterFile = join(dir, 'adapter.safetensors');
    const existing = existsSync(adapterFile) && existsSync(join(dir, 'adapter.json')) ? readAdapterInfo(adapterFile) : null;
    if (existing) {
      const made = { condition: existing.condition, blender: existing.blender ?? undefined, toothLossWeight: existing.toothLossWeight ?? 0, base: resolve(existing.base) };
      const asked = { condition: t.condition, blender: t.blender, toothLossWeight: t.toothLossWeight ?? 0, base: resolve(o.base) };
      const differs = (Object.keys(asked) as Array<keyof typeof asked>).filter((k) => made[k] !== asked[k]);
      if (differs.length) {
        throw new ArgumentError(`ablate: ${dir} holds an adapter made with ${differs.map((k) => `${k} ${JSON.stringify(made[k])}`).join(', ')}, not ${differs.map((k) => `${k} ${JSON.stringify(asked[k])}`).join(', ')}: give another --out, or delete that folder to retrain it`);
      }
    }
    if (existing && existing.steps === o.training.steps) {
      log(`${tag}: adapter exists (${o.training.steps} steps), reused`);
      trainingInfo.set(key, { finalLoss: finalLossOf(dir) });
      continue;
    }
    log(`${tag}: training ${o.training.steps} steps (${t.condition}${t.blender ? ` via ${t.blender}` : ''}${t.toothLossWeight ? `, tooth-loss weight ${t.toothLossWeight}` : ''}) into ${dir}`);
    const r = await trainAdapter({
      data: o.data, out: dir, base: o.base, backend: o.backend, condition: t.condition,
      blender: t.blender ? blenderByName(blenders, t.blender) : undefined, blenderName: t.blender, blenderOptions: {},
      training: { ...o.training, seed, resume: 'latest' }, scheduler: o.sampler.scheduler, toothLossWeight: t.toothLossWeight,
      promptDropout: o.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset,
      validationCount: o.validationCount, validationSteps: o.validationSteps, guidanceScale: o.guidanceScale,
    });
    trainingInfo.set(key, { finalLoss: r.finalLoss, seconds: r.seconds });
    log(`${tag}: done in ${r.seconds.toFixed(0)} s, final loss ${r.finalLoss.toFixed(4)}`);
  }

  // 2. The rows, each evaluated per seed on the same samples with the same sampling seed.
  interface RowSpec { id: string; label: string; kind: AblationRow['kind']; parts: Array<{ arm: string; weight: number }>; headline: boolean; seeds: number[] }
  const rows: RowSpec[] = [{ id: 'no-control', label: 'no control (base alone)', kind: 'baseline', parts: [], headline: false, seeds: o.seeds.slice(0, 1) }];
  for (const arm of ARM_NAMES.filter((a) => o.arms.includes(a))) {
    if (arm === 'dual') {
      for (const [wl, ws] of dualWeights) {
        rows.push({ id: `dual-${wl}-${ws}`, label: `lighting x${wl} + segmentation x${ws} (two adapters)`, kind: 'dual', parts: [{ arm: 'lighting', weight: wl }, { arm: 'segmentation', weight: ws }], headline: true, seeds: seedsOf('dual') });
      }
      continue;
    }
    const t = trainingFor(arm, improved);
    const label = arm === 'improved' ? `improved: blend (${t.blender}) + tooth-weighted loss x${toothWeight}` : t.blender ? `blend (${t.blender})` : `${arm} only`;
    rows.push({ id: arm, label, kind: 'trained', parts: [{ arm, weight: 1 }], headline: HEADLINE_ARMS.has(arm), seeds: seedsOf(arm) });
  }

  const sampleKeys: string[] = [];
  const evalRow = async (row: RowSpec, seed: number, index: string): Promise<SampleMetrics[]> => {
    const dir = join(o.out, 'eval', row.id), path = join(dir, `seed-${seed}.json`), grid = join(dir, `grid-seed-${seed}.png`);
    const adapters = row.parts.map((p) => ({ ...p, dir: adapterDir(p.arm, seed) }));
    // what the figures depend on: a retrained adapter (other bytes), other data or base, other sampling -> sampled again
    const key = {
      sampler: o.sampler, count: o.count, data: resolve(o.data), base: resolve(o.base),
      adapters: adapters.map((a) => [a.arm, a.weight, fileSha256(join(a.dir, 'adapter.safetensors'))]),
    };
    const tag = `ablate: eval [${index}] ${row.id} seed ${seed}`;
    if (existsSync(path) && existsSync(grid)) {
      const saved = JSON.parse(readFileSync(path, 'utf8')) as { key: unknown; samples: string[]; metrics: Array<Record<MetricName, number | null>> };
      if (JSON.stringify(saved.key) === JSON.stringify(key)) {
        log(`${tag}: reused`);
        if (!sampleKeys.length) sampleKeys.push(...saved.samples);
        return saved.metrics.map((m) => Object.fromEntries(METRIC_NAMES.map((k) => [k, fromJson(m[k])])) as SampleMetrics);
      }
    }
    log(`${tag}: sampling ${o.count} validation samples (${o.sampler.scheduler}, ${o.sampler.steps} steps, seed ${o.sampler.seed})`);
    const base = await loadBase(o.base, { backend: o.backend });
    const used: Array<{ name: string; condition: string; weight: number; blender?: string }> = [];
    for (const a of adapters) {
      const file = join(a.dir, 'adapter.safetensors');
      const info = readAdapterInfo(file);
      if (base.snapshots.has(info.name)) base.lora.deleteAdapter(info.name); // the base's own segmentation set: the arm's replaces it
      used.push({ name: await loadAdapterFile(base, file), condition: info.condition, weight: a.weight, blender: info.blender ?? undefined });
    }
    const blender = used.find((u) => u.blender)?.blender;
    const ds = await DentalTensorDataset.open(o.data, {
      size: base.sizes.imageSize, split: 'val', conditions: [...new Set([...used.map((u) => u.condition), 'segmentation'])],
      blender: blender ? blenderByName(blenders, blender) : undefined, backend: o.backend,
    });
    const set: EvalSet = await loadEvalSet(ds, o.count);
    const conditions: SampleCondition[] = used.map((u) => ({ image: set.conditions[u.condition]!, weight: u.weight, activate: () => activateAdapter(base, u.name) }));
    const output = sampleSet(pipelineFor(base), set, conditions, o.sampler);
    const metrics = ablationMetrics(output, set.targets, toothMasks(set.conditions.segmentation!));
    await mkdir(dir, { recursive: true });
    await writeComparisonGrid(grid, [
      ...used.map((u) => ({ label: used.length > 1 ? `${u.condition} x${u.weight}` : `input (${u.blender ?? u.condition})`, images: set.conditions[u.condition]! })),
      ...(used.length ? [] : [{ label: 'segmentation', images: set.conditions.segmentation! }]),
      { label: 'output', images: output },
      { label: 'target', images: set.targets },
    ]);
    await writeFileAtomic(path, json({ key, samples: set.keys, metrics }));
    if (!sampleKeys.length) sampleKeys.push(...set.keys);
    return metrics;
  };

  const out: AblationRow[] = [];
  let index = 0;
  const evaluations = rows.reduce((s, r) => s + r.seeds.length, 0);
  for (const row of rows) {
    const perSeed: AblationRow['perSeed'] = [];
    for (const seed of row.seeds) {
      const samples = await evalRow(row, seed, `${++index}/${evaluations}`);
      const metrics = Object.fromEntries(METRIC_NAMES.map((k) => [k, summarize(samples.map((s) => s[k]))])) as Record<MetricName, Summary>;
      const info = row.kind === 'trained' ? trainingInfo.get(`${row.parts[0]!.arm}/${seed}`) : undefined;
      perSeed.push({ seed, metrics, samples, ...(info?.finalLoss !== undefined ? { finalLoss: info.finalLoss } : {}), ...(info?.seconds !== undefined ? { trainingSeconds: info.seconds } : {}) });
    }
    const first = row.seeds[0]!;
    out.push({
      id: row.id, label: row.label, kind: row.kind, headline: row.headline, seeds: row.seeds,
      conditions: row.parts.map((p) => {
        const t = trainingFor(p.arm, improved);
        return { condition: t.condition, weight: p.weight, ...(t.blender ? { blender: t.blender } : {}) };
      }),
      ...(row.id === 'improved' ? { toothLossWeight: toothWeight } : {}),
      perSeed,
      summary: Object.fromEntries(METRIC_NAMES.map((k) => [k, acrossSeeds(perSeed.map((p) => p.metrics[k]))])) as Record<MetricName, SeedSummary>,
      grid: relative(o.out, join(o.out, 'eval', row.id, `grid-seed-${first}.png`)),
      lossCurves: [...new Set(row.parts.map((p) => p.arm))].map((arm) => ({ label: `${arm}, seed ${first}`, path: relative(o.out, join(adapterDir(arm, first), 'loss.png')) })),
    });
  }

  const reference = out.find((r) => r.id === REFERENCE_ARM);
  if (reference) {
    for (const row of out) {
      if (row === reference) continue;
      const diffs = (m: MetricName) => row.perSeed.map((p) => {
        const ref = reference.perSeed.find((q) => q.seed === p.seed) ?? reference.perSeed[0]!;
        return pairedDifference(p.samples.map((x) => x[m]), ref.samples.map((x) => x[m]));
      });
      row.vsReference = Object.fromEntries(METRIC_NAMES.map((m) => [m, acrossSeeds(diffs(m))])) as Record<MetricName, SeedSummary>;
    }
  }

  const results: AblationResults = {
    format: 'ctrlora-ts/dental-ablation', version: 1,
    settings: {
      command: o.command, base: o.base, baseManifest: baseManifestSummary(o.base), data: o.data, steps: o.training.steps, seeds: o.seeds,
      count: o.count, samples: sampleKeys, sampler: o.sampler,
      training: { lr: o.training.lr, batchSize: o.training.batchSize, lrScheduler: o.training.lrScheduler, promptDropout: o.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset },
      dualWeights, toothLossWeight: toothWeight, improvedBlender: improved.blender,
    },
    metrics: METRIC_NAMES,
    reference: reference ? reference.id : null,
    rows: out,
  };
  const resultsPath = join(o.out, 'results.json');
  await writeFileAtomic(resultsPath, json(results));
  const report = await writeAblationReport(o.out, results);
  return { results, report, resultsPath };
}

function fileSha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The mean loss of the last 50 logged steps of a finished training folder. */
function finalLossOf(dir: string): number | undefined {
  const events = join(dir, 'events.jsonl');
  if (!existsSync(events)) return undefined;
  const losses = [...loggedLosses(events).values()].slice(-50);
  return losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : undefined;
}

/** results.json as written (a NaN or infinite figure was written as null). */
export function readAblationResults(path: string): AblationResults {
  if (!existsSync(path)) throw new ArgumentError(`--table: ${path} does not exist (ablate writes <out>/results.json)`);
  const r = JSON.parse(readFileSync(path, 'utf8')) as AblationResults;
  if (r?.format !== 'ctrlora-ts/dental-ablation') throw new ArgumentError(`--table: ${path} is not an ablation's results.json`);
  return r;
}
