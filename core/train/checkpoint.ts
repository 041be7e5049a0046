/**
 * A training checkpoint: one folder that appears whole or not at all.
 *
 *   <dir>/step-00000120/
 *     model.safetensors        weights (trainable ones or all), PyTorch state-dict names;
 *                              several models: one <name>.safetensors each
 *     optimizer.safetensors    moments, hyper-parameters and the LR schedule (saveOptimizer)
 *     trainer.json             step, data position, generators, guard counters, the run's
 *                              config, and the list of files above
 *
 * Everything is written into `<dir>/step-00000120.tmp-<pid>-<hex>/`, flushed, then the folder
 * is renamed into place and `<dir>` flushed. A process killed at any moment leaves either the
 * complete folder or a temporary one, which the next save removes; `latest` only ever sees
 * complete folders. Older checkpoints beyond `keepLast` are renamed away before deletion, so
 * a kill mid-delete never leaves a half-deleted folder under a checkpoint's name.
 */
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ArgumentError, TensorError } from '../errors.ts';
import { removeStaleTemps, syncDir, tempPathFor, writeFileAtomic } from '../io/atomic.ts';
import { loadModule, loadOptimizer, saveOptimizer } from '../io/checkpoint.ts';
import { loadSafetensors, saveSafetensors } from '../io/safetensors.ts';
import type { Module } from '../nn/module.ts';
import type { Hyper, Optimizer } from '../optim/optimizer.ts';
import type { GeneratorState } from '../random.ts';
import type { Tensor } from '../tensor.ts';
import type { DataPosition } from './data-loader.ts';

export class CheckpointError extends TensorError {}

/** The trainer's own state, saved as trainer.json. */
export interface TrainerState {
  /** Optimiser steps done (skipped steps included). */
  step: number;
  /** The next batch to load. */
  data: DataPosition;
  /** Micro-batches consumed so far. */
  batchesSeen: number;
  /** Each generator's state, by name (`default` is the process-wide one). */
  generators: Record<string, GeneratorState>;
  /** The NaN/Inf guard's counters. */
  guard: { consecutiveSkips: number; totalSkips: number };
  /** The run's config (JSON), compared on resume. */
  config: Record<string, unknown>;
}

export type WeightsToSave = 'trainable' | 'all';
export type Models = Module | Readonly<Record<string, Module>>;

interface TrainerFile extends TrainerState {
  format: 'ctrlora-ts/checkpoint';
  version: 1;
  weights: WeightsToSave;
  /** Files of the checkpoint, with their sizes, checked on load. */
  files: Record<string, number>;
}

const FORMAT = 'ctrlora-ts/checkpoint';
const STATE_FILE = 'trainer.json';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const NAME = /^step-(\d{8,})$/;

/** The phases of a save, in order (a test or a fault-injection hook can act between them). */
export type SavePhase = 'begin' | 'weights' | 'optimizer' | 'state' | 'renamed' | 'pruned';

export interface SaveCheckpointOptions {
  models: Models;
  optimizer: Optimizer<Hyper>;
  state: TrainerState;
  /** Default 'trainable'. */
  weights?: WeightsToSave;
  /** Keep the newest K checkpoints in dir (older ones are deleted). Default: keep all. */
  keepLast?: number;
  /** Called after each phase of the save. */
  onPhase?: (phase: SavePhase) => void;
}

/** The checkpoint folder name of a step. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** The models as [file stem, module] pairs: one module is `model`. */
function modelEntries(models: Models): [string, Module][] {
  if (typeof (models as Module).stateDict === 'function') return [['model', models as Module]];
  const entries = Object.entries(models as Record<string, Module>);
  if (entries.length === 0) throw new ArgumentError('checkpoint: no models given');
  for (const [name] of entries) {
    if (!/^[A-Za-z0-9_-]+$/.test(name) || name === 'optimizer' || name === 'trainer') throw new ArgumentError(`checkpoint: model name '${name}' cannot be a file name (letters, digits, _ and -; not 'optimizer' or 'trainer')`);
  }
  return entries;
}

/** The tensors to save of one module: its trainable parameters, or its whole state dict. */
function weightsOf(module: Module, which: WeightsToSave): Map<string, Tensor> {
  if (which === 'all') return module.stateDict();
  return new Map([...module.namedParameters()].filter(([, p]) => p.requiresGrad));
}

/** Writes a checkpoint for state.step into dir; returns its folder. */
export async function saveCheckpoint(dir: string, options: SaveCheckpointOptions): Promise<string> {
  const { state, optimizer } = options;
  const weights = options.weights ?? 'trainable';
  const keepLast = options.keepLast;
  if (keepLast !== undefined && !(Number.isInteger(keepLast) && keepLast >= 1)) throw new ArgumentError(`saveCheckpoint: keepLast must be an integer >= 1, got ${keepLast}`);
  const phase = options.onPhase ?? (() => undefined);
  await mkdir(dir, { recursive: true });
  await removeStaleTemps(dir);
  const final = join(dir, checkpointName(state.step));
  const tmp = tempPathFor(final);
  await mkdir(tmp);
  phase('begin');

  const files: Record<string, number> = {};
  for (const [stem, module] of modelEntries(options.models)) {
    const file = `${stem}.safetensors`;
    await saveSafetensors(join(tmp, file), weightsOf(module, weights), { metadata: { format: 'pt' } });
    files[file] = (await stat(join(tmp, file))).size;
  }
  phase('weights');
  await saveOptimizer(join(tmp, OPTIMIZER_FILE), optimizer);
  files[OPTIMIZER_FILE] = (await stat(join(tmp, OPTIMIZER_FILE))).size;
  phase('optimizer');
  const body: TrainerFile = { format: FORMAT, version: 1, weights, files, ...state };
  await writeFileAtomic(join(tmp, STATE_FILE), `${JSON.stringify(body, null, 1)}\n`);
  await syncDir(tmp);
  phase('state');

  // A checkpoint of the same step from an earlier run (resumed from an older one) is replaced.
  const old = await exists(final) ? tempPathFor(final) : null;
  if (old) await rename(final, old);
  await rename(tmp, final);
  await syncDir(dir);
  if (old) await rm(old, { recursive: true, force: true });
  phase('renamed');

  if (keepLast !== undefined) {
    const all = await listCheckpoints(dir);
    for (const c of all.slice(0, Math.max(0, all.length - keepLast))) {
      const doomed = tempPathFor(c.path);
      await rename(c.path, doomed);
      await rm(doomed, { recursive: true, force: true });
    }
    await syncDir(dir);
  }
  phase('pruned');
  return final;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** The complete checkpoints in dir, oldest first. */
export async function listCheckpoints(dir: string): Promise<{ step: number; path: string }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .map((n) => ({ m: NAME.exec(n), n }))
    .filter((x): x is { m: RegExpExecArray; n: string } => x.m !== null)
    .map(({ m, n }) => ({ step: Number(m[1]), path: join(dir, n) }))
    .sort((a, b) => a.step - b.step);
}

/**
 * A checkpoint folder from `resume`: a checkpoint folder itself, or `latest` (the newest in
 * `dir`). Returns null for `latest` when dir holds none (a fresh run).
 */
export async function resolveCheckpoint(resume: string, dir?: string): Promise<string | null> {
  if (resume === 'latest') {
    if (!dir) throw new ArgumentError(`resume 'latest' needs the checkpoint folder (checkpoint.dir)`);
    return (await listCheckpoints(dir)).at(-1)?.path ?? null;
  }
  if (!(await exists(join(resume, STATE_FILE)))) {
    throw new CheckpointError(`resume: ${resume} is not a checkpoint folder (no ${STATE_FILE}); give a step-XXXXXXXX folder or 'latest'`);
  }
  return resume;
}

/** Reads and checks trainer.json of a checkpoint folder. */
export async function readTrainerState(path: string): Promise<TrainerState & { weights: WeightsToSave; files: Record<string, number> }> {
  const file = join(path, STATE_FILE);
  let body: TrainerFile;
  try {
    body = JSON.parse(await readFile(file, 'utf8')) as TrainerFile;
  } catch (e) {
    throw new CheckpointError(`checkpoint ${path}: cannot read ${STATE_FILE}: ${(e as Error).message}`);
  }
  if (body?.format !== FORMAT || body.version !== 1) throw new CheckpointError(`checkpoint ${path}: ${STATE_FILE} is not a ${FORMAT} version 1 file`);
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const bad = [
    !count(body.step) && 'step',
    !(count(body.data?.epoch) && count(body.data?.batch)) && 'data',
    !count(body.batchesSeen) && 'batchesSeen',
    !(body.generators && typeof body.generators === 'object') && 'generators',
    !(count(body.guard?.consecutiveSkips) && count(body.guard?.totalSkips)) && 'guard',
    !(body.config && typeof body.config === 'object') && 'config',
    !(body.weights === 'trainable' || body.weights === 'all') && 'weights',
    !(body.files && typeof body.files === 'object') && 'files',
  ].filter(Boolean);
  if (bad.length) throw new CheckpointError(`checkpoint ${path}: ${STATE_FILE} has missing or invalid fields: ${bad.join(', ')}`);
  for (const [name, size] of Object.entries(body.files)) {
    const actual = await stat(join(path, name)).then((s) => s.size, () => -1);
    if (actual !== size) throw new CheckpointError(`checkpoint ${path}: ${name} is ${actual < 0 ? 'missing' : `${actual} bytes, expected ${size}`}`);
  }
  return body;
}

/**
 * Loads a checkpoint's weights and optimiser (with its schedule) in place and returns the
 * trainer state; restoring generators and the data position is the caller's (the trainer's).
 * Checks that the checkpoint's config equals `config` first, naming every difference.
 */
export async function loadCheckpoint(path: string, options: { models: Models; optimizer: Optimizer<Hyper>; config?: Record<string, unknown> }): Promise<TrainerState> {
  const state = await readTrainerState(path);
  if (options.config) {
    const diffs = configDiff(state.config, options.config);
    if (diffs.length) {
      throw new CheckpointError(`checkpoint ${path} was written by a run with another config; refusing to resume. Differences (checkpoint -> this run):\n  ${diffs.join('\n  ')}`);
    }
  }
  for (const [stem, module] of modelEntries(options.models)) {
    const file = join(path, `${stem}.safetensors`);
    if (!(stem + '.safetensors' in state.files)) throw new CheckpointError(`checkpoint ${path}: has no ${stem}.safetensors (it holds ${Object.keys(state.files).join(', ')})`);
    if (state.weights === 'all') {
      await loadModule(file, module);
      continue;
    }
    // Trainable weights only: the saved names must be exactly the trainable parameters now.
    const expected = new Set([...module.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n));
    const { tensors } = await loadSafetensors(file, { backend: module.parameters()[0]?.backend });
    try {
      const missing = [...expected].filter((n) => !tensors.has(n));
      const unexpected = [...tensors.keys()].filter((n) => !expected.has(n));
      if (missing.length || unexpected.length) {
        throw new CheckpointError(`checkpoint ${file}: the saved trainable weights differ from this model's trainable parameters${missing.length ? `; missing: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` (+${missing.length - 8})` : ''}` : ''}${unexpected.length ? `; not trainable here: ${unexpected.slice(0, 8).join(', ')}${unexpected.length > 8 ? ` (+${unexpected.length - 8})` : ''}` : ''}`);
      }
      module.loadStateDict(tensors, { strict: false });
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }
  await loadOptimizer(join(path, OPTIMIZER_FILE), options.optimizer);
  return state;
}

/** Every leaf where two JSON values differ, as `path: a -> b` lines. */
export function configDiff(saved: unknown, current: unknown, path = 'config'): string[] {
  const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(saved) && isObj(current)) {
    const keys = [...new Set([...Object.keys(saved), ...Object.keys(current)])];
    return keys.flatMap((k) => configDiff(saved[k], current[k], `${path}.${k}`));
  }
  if (Array.isArray(saved) && Array.isArray(current) && saved.length === current.length) {
    return saved.flatMap((v, i) => configDiff(v, current[i], `${path}[${i}]`));
  }
  // Compare as JSON: the saved side went through JSON (undefined keys dropped, NaN -> null).
  const a = JSON.stringify(saved);
  const b = JSON.stringify(current);
  return a === b ? [] : [`${path}: ${show(saved)} -> ${show(current)}`];
}
