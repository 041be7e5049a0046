/**
 * One training run of the recipe (a pretraining stage, or the adapter) on the framework's
 * Trainer, with what every training command shares: the diffusers-like options, the output
 * folder (`events.jsonl`, `loss.png`, `checkpoints/`, `samples/`), AdamW with an LR schedule,
 * the telemetry sinks (progress bar with ETA, JSONL log, loss curve), checkpoints and resume.
 *
 * Resuming from a checkpoint at step S first cuts the JSONL log back to step S (the steps a
 * killed run logged after its last checkpoint are run again), so the log of a resumed run holds
 * the same step events as a run that was never stopped; the loss curve is redrawn from it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../core/io/atomic.ts';
import type { Module } from '../../../core/nn/module.ts';
import { AdamW } from '../../../core/optim/adam.ts';
import { LRScheduler, type ScheduleName } from '../../../core/optim/schedule.ts';
import type { Tensor } from '../../../core/tensor.ts';
import { TelemetryBus } from '../../../core/telemetry/bus.ts';
import type { RunTelemetry } from '../../../core/telemetry/run.ts';
import { JsonlSink } from '../../../core/telemetry/sinks/jsonl.ts';
import { LossCurveSink } from '../../../core/telemetry/sinks/loss-curve.ts';
import { ProgressSink } from '../../../core/telemetry/sinks/progress.ts';
import type { TelemetrySink } from '../../../core/telemetry/sink.ts';
import { readTrainerState, resolveCheckpoint } from '../../../core/train/checkpoint.ts';
import type { BatchSource } from '../../../core/train/data-loader.ts';
import { type FitResult, type StepContext, Trainer, type ValidationContext, type ValidationResult } from '../../../core/train/trainer.ts';

/** The options every training command takes (diffusers' train_controlnet.py names, camelCased). */
export interface TrainingOptions {
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  lrScheduler: ScheduleName;
  lrWarmupSteps: number;
  adamBeta1: number;
  adamBeta2: number;
  adamWeightDecay: number;
  adamEpsilon: number;
  maxGradNorm: number | null;
  gradientAccumulationSteps: number;
  checkpointEvery: number;
  checkpointsTotalLimit?: number;
  resume?: string;
  validateEvery: number;
  progress: boolean;
}

/** The diffusion and validation settings that pretraining and the adapter share. */
export interface DiffusionRunOptions {
  promptDropout: number;
  minSnrGamma: number | null;
  noiseOffset: number;
  /** Validation: how many val samples, sampling steps, guidance. */
  validationCount: number;
  validationSteps: number;
  guidanceScale: number;
}

export interface StageSpec<B> {
  /** Run id and title (e.g. `vae`, `adapter-blend`). */
  name: string;
  /** The stage's folder: events.jsonl, loss.png, checkpoints/, samples/. */
  outDir: string;
  /** What a checkpoint saves (their trainable parameters), by name. */
  models: Record<string, Module>;
  parameters: Tensor[];
  data: BatchSource<B>;
  trainingStep: (batch: B, ctx: StepContext) => Tensor;
  validate?: (ctx: ValidationContext & { samplesDir: string }) => ValidationResult | void | Promise<ValidationResult | void>;
  /** What resume compares (a run may only resume under the same settings). */
  config: Record<string, unknown>;
}

export interface StageResult extends FitResult {
  outDir: string;
  /** Wall time of this process's part of the run, in seconds. */
  seconds: number;
  /** The mean loss of the last min(50, steps) steps of the log. */
  finalLoss: number;
}

interface LoggedEvent {
  type?: string;
  step?: number;
  loss?: number | string;
}

function readLog(path: string): LoggedEvent[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as LoggedEvent);
}

/** The step losses of a log (the last one logged for each step). */
export function loggedLosses(eventsPath: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of readLog(eventsPath)) if (e.type === 'step' && typeof e.step === 'number') out.set(e.step, Number(e.loss));
  return out;
}

/** Drops the events a killed run logged after `step` (they are computed again). */
async function cutLog(path: string, step: number): Promise<void> {
  if (!existsSync(path)) return;
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim());
  const kept = lines.filter((l) => {
    const e = JSON.parse(l) as LoggedEvent;
    return typeof e.step !== 'number' || e.step <= step;
  });
  await writeFileAtomic(path, new TextEncoder().encode(kept.map((l) => `${l}\n`).join('')));
}

export async function runStage<B>(spec: StageSpec<B>, o: TrainingOptions): Promise<StageResult> {
  const started = Date.now();
  const dir = spec.outDir;
  const checkpoints = join(dir, 'checkpoints'), samplesDir = join(dir, 'samples'), eventsPath = join(dir, 'events.jsonl');
  await mkdir(checkpoints, { recursive: true });
  await mkdir(samplesDir, { recursive: true });

  const resumeFrom = o.resume ? await resolveCheckpoint(o.resume, checkpoints) : null;
  if (o.resume && o.resume !== 'latest' && !resumeFrom) throw new Error(`--resume ${o.resume}: no checkpoint there`);
  const fromStep = resumeFrom ? (await readTrainerState(resumeFrom)).step : 0;
  if (resumeFrom) await cutLog(eventsPath, fromStep);
  else if (existsSync(eventsPath)) await writeFileAtomic(eventsPath, new Uint8Array()); // a fresh run starts a fresh log

  const curve = new LossCurveSink({ path: join(dir, 'loss.png'), logScale: true });
  for (const [step, loss] of loggedLosses(eventsPath)) curve.points.push({ step, loss, smoothed: loss });
  const sinks: TelemetrySink[] = [new JsonlSink({ path: eventsPath }), curve];
  if (o.progress) sinks.push(new ProgressSink()); // drawn on a terminal only: a log file stays clean
  const bus = new TelemetryBus({ runId: spec.name });
  for (const s of sinks) s.attach(bus.events$);
  const telemetry: RunTelemetry = {
    bus, sinks,
    async close(status = 'completed', error?: unknown) {
      bus.end(status, error);
      await Promise.all(sinks.map((s) => s.close()));
    },
  };

  const optimizer = new AdamW(spec.parameters, { lr: o.lr, betas: [o.adamBeta1, o.adamBeta2], weightDecay: o.adamWeightDecay, eps: o.adamEpsilon });
  const lrScheduler = new LRScheduler(optimizer, o.lrScheduler, { warmupSteps: o.lrWarmupSteps, totalSteps: o.steps });
  const trainer = new Trainer<B>({
    models: spec.models,
    optimizer,
    lrScheduler,
    data: spec.data,
    trainingStep: spec.trainingStep,
    maxSteps: o.steps,
    gradientAccumulationSteps: o.gradientAccumulationSteps,
    maxGradNorm: o.maxGradNorm,
    seed: o.seed,
    checkpoint: { dir: checkpoints, everySteps: o.checkpointEvery, keepLast: o.checkpointsTotalLimit },
    resume: resumeFrom,
    validation: spec.validate ? { everySteps: o.validateEvery, run: (ctx) => spec.validate!({ ...ctx, samplesDir }) } : null,
    telemetry,
    config: { ...spec.config, batchSize: o.batchSize, lr: o.lr, lrScheduler: o.lrScheduler, lrWarmupSteps: o.lrWarmupSteps, adam: [o.adamBeta1, o.adamBeta2, o.adamWeightDecay, o.adamEpsilon] },
  });
  const result = await trainer.fit();
  const losses = [...loggedLosses(eventsPath).values()].slice(-50);
  return { ...result, outDir: dir, seconds: (Date.now() - started) / 1000, finalLoss: losses.reduce((a, b) => a + b, 0) / Math.max(1, losses.length) };
}
