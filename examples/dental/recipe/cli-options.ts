/**
 * The command-line options the training commands share (diffusers' train_controlnet.py
 * spellings), their parsers, and the backend option.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { Backend } from '../../../core/backend.ts';
import { setDefaultBackend } from '../../../core/backends/default.ts';
import { addBackendOptions } from '../../../core/backends/cli-options.ts';
import { createBackend } from '../../../core/backends/create.ts';
import type { ScheduleName } from '../../../core/optim/schedule.ts';
import type { TrainingOptions } from './run.ts';

export function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got "${value}"`);
    }
    return n;
  };
}

export function real(min: number, max = Infinity) {
  return (value: string): number => {
    const n = Number(value);
    if (!value.trim() || !Number.isFinite(n) || n < min || n > max) throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got "${value}"`);
    return n;
  };
}

/** `none` or a number >= 0. */
export function noneOr(parse: (v: string) => number) {
  return (value: string): number | null => (value === 'none' ? null : parse(value));
}

export const LR_SCHEDULERS: readonly ScheduleName[] = ['constant', 'constant_with_warmup', 'linear', 'cosine'];

export interface TrainingDefaults {
  steps: number;
  batchSize: number;
  lr: number;
  checkpointEvery: number;
  validateEvery: number;
  lrScheduler?: ScheduleName;
  lrWarmupSteps?: number;
  promptDropout: number;
}

/** Adds the options every training command takes; defaults are the command's own. */
export function addTrainingOptions(cmd: Command, d: TrainingDefaults, stepsHelp = 'optimiser steps'): Command {
  // 0 in the defaults: the command has one default per stage (pretrain), named in its own options
  const dflt = (v: number) => (v === 0 ? 'default: per stage' : `default ${v}`);
  cmd
    .option('--steps <n>', `${stepsHelp} (${dflt(d.steps)})`, integer(1))
    .option('--batch-size <n>', `samples per step (${dflt(d.batchSize)})`, integer(1))
    .option('--lr <x>', `learning rate (${dflt(d.lr)})`, real(0))
    .addOption(new Option('--lr-scheduler <name>', 'learning-rate schedule').choices([...LR_SCHEDULERS]).default(d.lrScheduler ?? 'constant'))
    .option('--lr-warmup-steps <n>', 'linear warm-up steps of the schedule', integer(0), d.lrWarmupSteps ?? 0)
    .option('--adam-beta1 <x>', 'AdamW beta1', real(0, 1), 0.9)
    .option('--adam-beta2 <x>', 'AdamW beta2', real(0, 1), 0.999)
    .option('--adam-weight-decay <x>', 'AdamW decoupled weight decay', real(0), 1e-2)
    .option('--adam-epsilon <x>', 'AdamW epsilon', real(0), 1e-8)
    .option('--max-grad-norm <x|none>', 'clip the global gradient norm to this ("none": no clipping)', noneOr(real(0)), 1)
    .option('--gradient-accumulation-steps <n>', 'micro-batches per optimiser step', integer(1), 1)
    .option('--seed <n>', 'seed of the weights, the data order and every random draw of the steps', integer(0), 0)
    .option('--checkpoint-every <n>', `save a checkpoint every N steps (0: only at the end; default ${d.checkpointEvery})`, integer(0))
    .option('--checkpoints-total-limit <n>', 'keep only the newest N checkpoints', integer(1))
    .option('--resume [latest|PATH]', 'continue from a checkpoint: "latest" (the newest of the run\'s checkpoints/ folder) or a checkpoint folder')
    .option('--validate-every <n>', `write a validation grid and metrics every N steps (0: only at the end; default ${d.validateEvery})`, integer(0))
    .option('--validation-count <n>', 'validation samples in a grid', integer(1, 64), 4)
    .option('--validation-steps <n>', 'sampling steps of a validation grid', integer(1, 1000), 20)
    .option('--guidance-scale <x>', 'classifier-free guidance of the validation samples', real(0), 3)
    .option('--prompt-dropout <p>', `probability of training a sample with the empty prompt (default ${d.promptDropout})`, real(0, 1))
    .addOption(new Option('--min-snr-gamma <x|none>', 'min-SNR loss weighting gamma (e.g. 5; "none": plain MSE)').argParser(noneOr(real(0))).default(null, 'none'))
    .option('--noise-offset <x>', 'offset-noise strength (e.g. 0.05)', real(0), 0)
    .option('--no-progress', 'do not draw the progress bar');
  addBackendOptions(cmd, 'auto');
  return cmd;
}

/**
 * The parsed common options (commander camelCases the flags): the training options, those
 * with per-command defaults left optional, plus the validation, diffusion and backend flags.
 */
export interface ParsedTrainingFlags
  extends Omit<TrainingOptions, 'steps' | 'batchSize' | 'lr' | 'checkpointEvery' | 'validateEvery' | 'resume'>,
    Partial<Pick<TrainingOptions, 'steps' | 'batchSize' | 'lr' | 'checkpointEvery' | 'validateEvery'>> {
  resume?: string | boolean;
  validationCount: number;
  validationSteps: number;
  guidanceScale: number;
  promptDropout?: number;
  minSnrGamma: number | null;
  noiseOffset: number;
  backend: string;
  threads?: number;
}

export function trainingOptions(f: ParsedTrainingFlags, d: TrainingDefaults): TrainingOptions {
  return {
    steps: f.steps ?? d.steps,
    batchSize: f.batchSize ?? d.batchSize,
    lr: f.lr ?? d.lr,
    seed: f.seed,
    lrScheduler: f.lrScheduler,
    lrWarmupSteps: f.lrWarmupSteps,
    adamBeta1: f.adamBeta1,
    adamBeta2: f.adamBeta2,
    adamWeightDecay: f.adamWeightDecay,
    adamEpsilon: f.adamEpsilon,
    maxGradNorm: f.maxGradNorm,
    gradientAccumulationSteps: f.gradientAccumulationSteps,
    checkpointEvery: f.checkpointEvery ?? d.checkpointEvery,
    checkpointsTotalLimit: f.checkpointsTotalLimit,
    resume: f.resume === true ? 'latest' : f.resume || undefined,
    validateEvery: f.validateEvery ?? d.validateEvery,
    progress: f.progress,
  };
}

/** Makes the backend of `--backend` (createBackend's specs) the default one: every tensor of the run lives there. */
export async function useBackend(spec: string, threads?: number): Promise<Backend> {
  const backend = await createBackend(spec, { threads });
  setDefaultBackend(backend);
  return backend;
}
