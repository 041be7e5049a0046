/**
 * The training loop, once, for every recipe (it knows nothing of diffusion): a step function
 * over a DataLoader, gradient accumulation and clipping, an optimiser and LR schedule, max
 * steps or epochs, a NaN/Inf guard, validation hooks, one-unit atomic checkpoints with exact
 * resume, and telemetry on the RxJS bus. PyTorch Lightning's Trainer and accelerate's
 * save_state/load_state are what it measures itself against.
 *
 * One optimiser step, in order:
 *   1. take `gradientAccumulationSteps` micro-batches from the loader (crossing epochs freely);
 *   2. inside one tidy(): for each, loss = trainingStep(batch, ctx); (loss / accumulation).backward();
 *   3. the global gradient norm (clipped to maxGradNorm when set);
 *   4. guard: a non-finite loss or norm skips the update (weights and optimiser state untouched);
 *      otherwise optimizer.step();
 *   5. lrScheduler.step(); the step counts either way (the data was consumed);
 *   6. step event, validation every N steps, checkpoint every N steps.
 * Random draws: trainingStep draws from ctx.generator (or the generators it was given); the
 * loader's order depends on its seed and the epoch only. All of them are in the checkpoint.
 */
import { rm } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Backend } from '../backend.ts';
import { TensorError } from '../errors.ts';
import { tidy } from '../memory.ts';
import type { Module } from '../nn/module.ts';
import { clipGradNorm, gradNorm } from '../optim/clip.ts';
import type { Hyper, Optimizer } from '../optim/optimizer.ts';
import { LRScheduler } from '../optim/schedule.ts';
import { Generator, defaultGenerator } from '../random.ts';
import type { Tensor } from '../tensor.ts';
import { TelemetryBus } from '../telemetry/bus.ts';
import type { RunTelemetry } from '../telemetry/run.ts';
import { ArgumentError } from '../errors.ts';
import {
  CheckpointError, type Models, type SavePhase, type TrainerState, type WeightsToSave, listCheckpoints, loadCheckpoint, resolveCheckpoint, saveCheckpoint,
} from './checkpoint.ts';
import type { BatchSource, DataPosition, LoadedBatch } from './data-loader.ts';

export class TrainingError extends TensorError {}

/** What trainingStep gets besides the batch. */
export interface StepContext {
  /** The optimiser step being computed (1-based). */
  step: number;
  /** Index of this micro-batch within the step (0 .. gradientAccumulationSteps-1). */
  microBatch: number;
  /** Where the batch came from. */
  position: DataPosition;
  /** The run's generator (seeded by `seed`, saved in checkpoints): draw every random number from it. */
  generator: Generator;
}

/** What a validation hook gets. */
export interface ValidationContext {
  /** Optimiser steps done. */
  step: number;
  /** True for the run's final validation. */
  final: boolean;
  generator: Generator;
  bus: TelemetryBus;
}

/** What a validation hook may return: metrics (an `eval` event) and images written (a `sample` event). */
export interface ValidationResult {
  metrics?: Record<string, number>;
  samplePaths?: string[];
}

export interface CheckpointOptions {
  /** The folder holding step-XXXXXXXX checkpoints. */
  dir: string;
  /** Save every N optimiser steps (0 or absent: only at the end). */
  everySteps?: number;
  /** Keep the newest K. Default: all. */
  keepLast?: number;
  /** Save the trainable parameters (default) or every parameter and buffer. */
  weights?: WeightsToSave;
  /** Save when the run ends. Default true. */
  atEnd?: boolean;
  /**
   * Delete the folder's checkpoints that lie beyond where this run starts (all of them for a
   * fresh start) instead of refusing to start. Default false.
   */
  overwrite?: boolean;
}

export interface TrainerOptions<B> {
  /** What checkpoints hold: one module, or several by name (one file each). */
  models: Models;
  optimizer: Optimizer<Hyper>;
  /** Default: the LRScheduler attached to the optimiser, if any. */
  lrScheduler?: LRScheduler | null;
  /** The batches: a DataLoader, or anything with its BatchSource shape. */
  data: BatchSource<B>;
  /** Computes a micro-batch's scalar loss; the trainer calls backward() on it. */
  trainingStep: (batch: B, ctx: StepContext) => Tensor;
  /** Stop after this many optimiser steps. */
  maxSteps?: number;
  /** Stop after this many passes over the data (whichever of maxSteps and maxEpochs comes first). */
  maxEpochs?: number;
  /** Micro-batches per optimiser step. Default 1. */
  gradientAccumulationSteps?: number;
  /** Clip the global gradient 2-norm to this (torch.nn.utils.clip_grad_norm_). Default: no clipping. */
  maxGradNorm?: number | null;
  /** Seed of ctx.generator. Default 0. */
  seed?: number;
  /** Use this generator as ctx.generator instead of seeding one. */
  generator?: Generator;
  /** Further generators the step draws from, saved and restored by name. */
  generators?: Record<string, Generator>;
  checkpoint?: CheckpointOptions | null;
  /** A checkpoint folder, or 'latest' (the newest in checkpoint.dir; a fresh start when none). */
  resume?: string | null;
  /**
   * Skip the update of a step whose loss or gradient norm is not finite, and stop after K such
   * steps in a row. Default on with K = 5; `false` turns it off (such steps update like any other).
   */
  nanGuard?: { maxConsecutiveSkips?: number } | false;
  validation?: {
    /** Every N optimiser steps (0 or absent: only at the end). */
    everySteps?: number;
    /** Also after the last step. Default true. */
    atEnd?: boolean;
    run: (ctx: ValidationContext) => ValidationResult | void | Promise<ValidationResult | void>;
  } | null;
  /** Where events go: a bus, or a RunTelemetry (startTelemetry) that the trainer closes at the end. Default: a new bus. */
  telemetry?: TelemetryBus | RunTelemetry;
  /** The run's config (JSON-able): in run_start and in every checkpoint; resume refuses a different one. */
  config?: Record<string, unknown>;
  /** Hooks for callers and tests (e.g. fault injection at a save phase). */
  hooks?: {
    onStepEnd?: (report: StepOutcome) => void | Promise<void>;
    onCheckpointPhase?: (phase: SavePhase, step: number) => void;
  };
}

/** One optimiser step's outcome. */
export interface StepOutcome {
  step: number;
  /** Mean of the micro-batch losses. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  lr: number;
  /** True when the guard skipped the update. */
  skipped: boolean;
}

export interface FitResult {
  /** Optimiser steps done (from the start of training, not of this process). */
  step: number;
  /** The steps this process ran. */
  history: StepOutcome[];
  skippedSteps: number;
  /** The checkpoint it resumed from, if any. */
  resumedFrom: string | null;
  /** The newest checkpoint written by this process, if any. */
  lastCheckpoint: string | null;
  /** True when stop() ended the run before totalSteps. */
  stopped: boolean;
}

const positive = (x: number | undefined, name: string, min = 1): void => {
  if (x !== undefined && !(Number.isInteger(x) && x >= min)) throw new ArgumentError(`Trainer: ${name} must be an integer >= ${min}, got ${x}`);
};

export class Trainer<B> {
  readonly bus: TelemetryBus;
  readonly generator: Generator;
  readonly lrScheduler: LRScheduler | null;
  /** The steps the run will reach. */
  readonly totalSteps: number;
  private readonly accumulation: number;
  private readonly guard: boolean;
  private readonly maxSkips: number;
  private readonly runTelemetry: RunTelemetry | null;
  private readonly config: Record<string, unknown>;
  private stopRequested = false;
  private fitted = false;

  constructor(readonly options: TrainerOptions<B>) {
    const o = options;
    if (!o.optimizer || !o.models || !o.data || typeof o.trainingStep !== 'function') {
      throw new ArgumentError('Trainer: models, optimizer, data and trainingStep are required');
    }
    positive(o.maxSteps, 'maxSteps');
    positive(o.maxEpochs, 'maxEpochs');
    positive(o.gradientAccumulationSteps, 'gradientAccumulationSteps');
    positive(o.checkpoint?.everySteps, 'checkpoint.everySteps', 0);
    positive(o.checkpoint?.keepLast, 'checkpoint.keepLast');
    positive(o.validation?.everySteps, 'validation.everySteps', 0);
    if (o.maxGradNorm !== undefined && o.maxGradNorm !== null && !(o.maxGradNorm > 0 && Number.isFinite(o.maxGradNorm))) {
      throw new ArgumentError(`Trainer: maxGradNorm must be a finite number > 0, got ${o.maxGradNorm}`);
    }
    if (o.maxSteps === undefined && o.maxEpochs === undefined) throw new ArgumentError('Trainer: give maxSteps or maxEpochs');
    if (o.resume === 'latest' && !o.checkpoint) throw new ArgumentError(`Trainer: resume 'latest' needs checkpoint.dir`);
    this.accumulation = o.gradientAccumulationSteps ?? 1;
    const epochSteps = o.maxEpochs !== undefined ? Math.floor((o.maxEpochs * o.data.batchesPerEpoch) / this.accumulation) : Infinity;
    this.totalSteps = Math.min(o.maxSteps ?? Infinity, epochSteps);
    if (!(this.totalSteps >= 1)) throw new ArgumentError(`Trainer: ${o.maxEpochs} epochs of ${o.data.batchesPerEpoch} batches make no step of ${this.accumulation} micro-batches`);
    this.guard = o.nanGuard !== false;
    this.maxSkips = (o.nanGuard || undefined)?.maxConsecutiveSkips ?? 5;
    positive(this.maxSkips, 'nanGuard.maxConsecutiveSkips');
    this.generator = o.generator ?? new Generator(o.seed ?? 0);
    for (const name of Object.keys(o.generators ?? {})) {
      if (name === 'trainer' || name === 'default') throw new ArgumentError(`Trainer: generator name '${name}' is reserved (the trainer's and the process-wide generator)`);
    }
    this.lrScheduler = o.lrScheduler ?? (o.optimizer.lrScheduler instanceof LRScheduler ? o.optimizer.lrScheduler : null);
    if (this.lrScheduler && this.lrScheduler.optimizer !== o.optimizer) throw new ArgumentError('Trainer: lrScheduler drives another optimiser');
    if (o.telemetry instanceof TelemetryBus) {
      this.bus = o.telemetry;
      this.runTelemetry = null;
    } else if (o.telemetry) {
      this.bus = o.telemetry.bus;
      this.runTelemetry = o.telemetry;
    } else {
      this.bus = new TelemetryBus();
      this.runTelemetry = null;
    }
    this.config = normaliseConfig(o.config ?? {});
    // A parameter the optimiser moves but no model holds would be missing from every checkpoint,
    // and a resumed run would silently differ.
    // (A frozen parameter given to the optimiser is fine, as in torch: it gets no gradient, no update.)
    const held = new Set(this.models().flatMap((m) => m.parameters()));
    const orphans = o.optimizer.params.filter((p) => !held.has(p));
    if (orphans.length) {
      throw new ArgumentError(`Trainer: the optimiser trains ${orphans.length} parameter(s) that no model in \`models\` holds (${orphans.slice(0, 4).map((p) => p.name ?? `[${p.shape.join(', ')}]`).join(', ')}); checkpoints would not save them: add their module to models`);
    }
  }

  /** Every generator a checkpoint saves, by name. */
  private generatorsByName(): Record<string, Generator> {
    return { trainer: this.generator, default: defaultGenerator, ...(this.options.generators ?? {}) };
  }

  /**
   * What resume compares besides the user's config: settings that change what a step computes
   * or where the data stands. maxSteps, maxEpochs and the checkpoint/validation cadence may change.
   */
  private checkpointConfig(): Record<string, unknown> {
    const d = this.options.data;
    return normaliseConfig({
      run: this.config,
      trainer: {
        batchSize: d.batchSize, shuffle: d.shuffle, dataSeed: d.seed, dropLast: d.dropLast, datasetLength: d.dataset.length,
        gradientAccumulationSteps: this.accumulation, maxGradNorm: this.options.maxGradNorm ?? null,
        optimizer: this.options.optimizer.constructor.name, weights: this.options.checkpoint?.weights ?? 'trainable',
      },
    });
  }

  private models(): Module[] {
    const m = this.options.models;
    return typeof (m as Module).stateDict === 'function' ? [m as Module] : Object.values(m as Record<string, Module>);
  }

  /** Runs (or resumes) the training to totalSteps. */
  async fit(): Promise<FitResult> {
    if (this.fitted) throw new TrainingError('Trainer.fit: this trainer has run already (its bus has ended); make a new Trainer, with resume: \'latest\' to continue');
    this.fitted = true;
    const o = this.options;
    const history: StepOutcome[] = [];
    let lastCheckpoint: string | null = null;
    let resumedFrom: string | null = null;
    /** The step of the newest checkpoint on disk (the one resumed from, or the last saved). */
    let savedStep = -1;
    let step = 0;
    let position: DataPosition = { epoch: 0, batch: 0 };
    let batchesSeen = 0;
    let consecutiveSkips = 0;
    let totalSkips = 0;
    const counts = this.models().reduce((acc, m) => {
      const c = m.numParameters();
      return { total: acc.total + c.total, trainable: acc.trainable + c.trainable };
    }, { total: 0, trainable: 0 });
    let iterator: AsyncGenerator<LoadedBatch<B>> | null = null;
    const state = (): TrainerState => ({
      step, data: position, batchesSeen,
      generators: Object.fromEntries(Object.entries(this.generatorsByName()).map(([k, g]) => [k, g.getState()])),
      guard: { consecutiveSkips, totalSkips }, config: this.checkpointConfig(),
    });
    const save = async (): Promise<void> => {
      const c = o.checkpoint!;
      lastCheckpoint = await saveCheckpoint(c.dir, {
        models: o.models, optimizer: o.optimizer, state: state(), weights: c.weights, keepLast: c.keepLast,
        onPhase: (phase) => o.hooks?.onCheckpointPhase?.(phase, step),
      });
      savedStep = step;
      this.bus.emit({ type: 'checkpoint', step, path: lastCheckpoint });
    };
    const validate = async (final: boolean): Promise<void> => {
      const v = o.validation!;
      const modes = this.models().flatMap((m) => [...m.modules()].map((x) => [x, x.training] as const));
      this.models().forEach((m) => m.eval());
      let result: ValidationResult | void;
      try {
        result = await v.run({ step, final, generator: this.generator, bus: this.bus });
      } finally {
        for (const [x, training] of modes) x.training = training;
      }
      if (result?.metrics) this.bus.emit({ type: 'eval', step, metrics: result.metrics });
      if (result?.samplePaths?.length) this.bus.emit({ type: 'sample', step, paths: result.samplePaths });
    };

    try {
      if (o.resume) {
        const path = await resolveCheckpoint(o.resume, o.checkpoint?.dir);
        if (path) {
          const saved = await loadCheckpoint(path, { models: o.models, optimizer: o.optimizer, config: this.checkpointConfig() });
          const gens = this.generatorsByName();
          const missing = Object.keys(saved.generators).filter((k) => !gens[k]);
          const extra = Object.keys(gens).filter((k) => !saved.generators[k]);
          if (missing.length || extra.length) {
            throw new TrainingError(`resume ${path}: the checkpoint's generators (${Object.keys(saved.generators).join(', ')}) differ from this run's (${Object.keys(gens).join(', ')})`);
          }
          for (const [k, g] of Object.entries(gens)) g.setState(saved.generators[k]!);
          ({ step, batchesSeen } = saved);
          position = saved.data;
          ({ consecutiveSkips, totalSkips } = saved.guard);
          resumedFrom = path;
          savedStep = step;
        }
      }
      if (o.checkpoint) await this.clearAbandoned(o.checkpoint, step, resumedFrom);
      this.bus.runStart(this.config, counts, this.totalSteps, resumedFrom ? { step, path: resumedFrom } : undefined);
      this.models().forEach((m) => m.train());
      const params = o.optimizer.params;
      const backend: Backend | undefined = params[0]?.backend;
      iterator = o.data.batches(position);

      while (step < this.totalSteps && !this.stopRequested) {
        const micro: LoadedBatch<B>[] = [];
        for (let k = 0; k < this.accumulation; k++) {
          const next = await iterator.next();
          if (next.done) throw new TrainingError('the data loader ended'); // batches() never ends; a custom loader might
          micro.push(next.value);
        }
        const current = step + 1;
        const lr = o.optimizer.lrs[0]!;
        const models = this.models();
        const outcome = tidy(() => {
          // Every model's gradients, not only the optimiser's: a requiresGrad parameter outside it
          // would accumulate across steps (and on a GPU keep a storage this tidy released).
          for (const m of models) m.zeroGrad();
          o.optimizer.zeroGrad();
          let lossSum = 0;
          micro.forEach((mb, i) => {
            const loss = o.trainingStep(mb.batch, { step: current, microBatch: i, position: mb.position, generator: this.generator });
            if (!loss || typeof loss.backward !== 'function' || loss.size !== 1) {
              throw new TrainingError(`trainingStep must return a scalar loss tensor (step ${current}, micro-batch ${i})`);
            }
            (this.accumulation > 1 ? loss.div(this.accumulation) : loss).backward();
            lossSum += loss.item();
          });
          const loss = lossSum / this.accumulation;
          const norm = o.maxGradNorm ? clipGradNorm(params, o.maxGradNorm) : gradNorm(params);
          const finite = Number.isFinite(loss) && Number.isFinite(norm);
          const culprits = finite || !this.guard ? [] : nonFiniteGrads(o.optimizer, models);
          if (finite || !this.guard) o.optimizer.step();
          for (const m of models) m.zeroGrad();
          o.optimizer.zeroGrad();
          return { loss, norm, finite, culprits };
        }, backend);
        for (const mb of micro) mb.release();
        step = current;
        batchesSeen += micro.length;
        const last = micro.at(-1)!.position;
        position = last.batch + 1 === o.data.batchesPerEpoch ? { epoch: last.epoch + 1, batch: 0 } : { epoch: last.epoch, batch: last.batch + 1 };
        this.lrScheduler?.step();

        const skipped = this.guard && !outcome.finite;
        const report: StepOutcome = { step, loss: outcome.loss, gradNorm: outcome.norm, lr, skipped };
        history.push(report);
        this.bus.step({ step, loss: outcome.loss, lr, gradNorm: outcome.norm, batchSize: micro.reduce((a, mb) => a + mb.indices.length, 0), totalSteps: this.totalSteps });
        if (!skipped) {
          consecutiveSkips = 0;
        } else {
          consecutiveSkips += 1;
          totalSkips += 1;
          const what = describeNonFinite(outcome.loss, outcome.norm, outcome.culprits);
          this.bus.warn('skipped_step', `step ${step}: skipped the update (${what}); ${consecutiveSkips} in a row, ${totalSkips} in the run`, step);
          if (consecutiveSkips >= this.maxSkips) {
            throw new TrainingError(`step ${step}: ${consecutiveSkips} consecutive steps were non-finite (nanGuard.maxConsecutiveSkips ${this.maxSkips}); stopping. Last: ${what}`);
          }
        }
        await o.hooks?.onStepEnd?.(report);
        const v = o.validation;
        if (v?.everySteps && step % v.everySteps === 0 && step < this.totalSteps) await validate(false);
        const c = o.checkpoint;
        if (c?.everySteps && step % c.everySteps === 0) await save();
      }

      const stopped = step < this.totalSteps;
      if (!stopped && o.validation && (o.validation.atEnd ?? true)) await validate(true);
      const c = o.checkpoint;
      // A stopped run always saves where it stopped (when it has somewhere to save), so it can resume.
      if (c && (stopped || (c.atEnd ?? true)) && savedStep !== step) await save();
      await iterator.return(undefined);
      iterator = null;
      await this.finish(stopped ? 'stopped' : 'completed');
      return { step, history, skippedSteps: totalSkips, resumedFrom, lastCheckpoint, stopped };
    } catch (e) {
      await iterator?.return(undefined).catch(() => undefined);
      await this.finish('failed', e).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Checkpoints in the folder beyond the point this run starts from belong to another run (a
   * fresh start) or to an abandoned future (a resume from an older one): left there, `latest`
   * and keepLast would mix them with this run's. Refused, or deleted with checkpoint.overwrite.
   */
  private async clearAbandoned(c: CheckpointOptions, step: number, resumedFrom: string | null): Promise<void> {
    const ahead = (await listCheckpoints(c.dir)).filter((x) => x.step > step || (x.step === step && x.path !== resumedFrom));
    if (!ahead.length) return;
    if (!c.overwrite) {
      const names = ahead.map((x) => basename(x.path)).join(', ');
      throw new CheckpointError(resumedFrom
        ? `${c.dir} holds checkpoints newer than ${basename(resumedFrom)} (${names}): resuming from an older one would mix two runs; delete them, or set checkpoint.overwrite to let the trainer do it`
        : `${c.dir} already holds checkpoints (${names}): resume with resume: 'latest', choose another folder, or set checkpoint.overwrite to delete them`);
    }
    for (const x of ahead) await rm(x.path, { recursive: true, force: true });
  }

  /**
   * Asks the run to stop after the step in progress (e.g. on SIGINT): it saves a checkpoint
   * there (when checkpoint.dir is set), skips the final validation and ends with status 'stopped'.
   */
  stop(): void {
    this.stopRequested = true;
  }

  private async finish(status: 'completed' | 'failed' | 'stopped', error?: unknown): Promise<void> {
    if (this.runTelemetry) await this.runTelemetry.close(status, error);
    else this.bus.end(status, error);
  }
}

/** The names of parameters whose gradient holds a NaN or an infinity (read only when a step is skipped). */
function nonFiniteGrads(optimizer: Optimizer<Hyper>, models: Module[]): string[] {
  const names = new Map<Tensor, string>();
  for (const m of models) for (const [n, p] of m.namedParameters()) if (!names.has(p)) names.set(p, n);
  const out: string[] = [];
  optimizer.params.forEach((p, i) => {
    if (p.grad && !p.grad.toArray().every(Number.isFinite)) out.push(names.get(p) ?? p.name ?? `parameter ${i}`);
  });
  return out;
}

function describeNonFinite(loss: number, norm: number, grads: string[]): string {
  const parts: string[] = [];
  if (!Number.isFinite(loss)) parts.push(`loss is ${loss}`);
  if (!Number.isFinite(norm)) parts.push(`gradient norm is ${norm}`);
  if (grads.length) parts.push(`non-finite gradients in ${grads.slice(0, 6).join(', ')}${grads.length > 6 ? ` and ${grads.length - 6} more` : ''}`);
  return parts.join('; ');
}

/** The config as JSON sees it (what a checkpoint stores), refusing what JSON cannot hold. */
function normaliseConfig(config: Record<string, unknown>): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  } catch (e) {
    throw new ArgumentError(`Trainer: config must be JSON-able: ${(e as Error).message}`);
  }
}
