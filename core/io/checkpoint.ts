/**
 * Modules and optimisers to and from safetensors files. A module's file holds its state
 * dict under the dotted names PyTorch uses, so `safetensors.torch.load_file` + torch's
 * `load_state_dict` read it, and files written by PyTorch load here. An optimiser's file
 * holds its moment tensors (`state.{i}.exp_avg`), its hyper-parameters and its LR schedule's
 * state as metadata.
 */
import type { Backend } from '../backend.ts';
import type { LoadStateDictOptions, LoadStateDictResult, Module } from '../nn/module.ts';
import type { Hyper, LrScheduleState, Optimizer, OptimizerStateDict } from '../optim/optimizer.ts';
import type { Tensor } from '../tensor.ts';
import { type EncodeOptions, SafetensorsError, loadSafetensors, saveSafetensors } from './safetensors.ts';

/** Writes module.stateDict() (metadata {"format": "pt"} plus any given); missing folders are created. */
export async function saveModule(path: string, module: Module, options: EncodeOptions = {}): Promise<void> {
  await saveSafetensors(path, module.stateDict(), { ...options, metadata: { format: 'pt', ...options.metadata } });
}

/** Loads a safetensors file into a module (strict by default: the error lists every mismatching key). */
export async function loadModule(path: string, module: Module, options: LoadStateDictOptions & { backend?: Backend } = {}): Promise<LoadStateDictResult> {
  const { tensors } = await loadSafetensors(path, { backend: options.backend ?? module.parameters()[0]?.backend });
  try {
    return module.loadStateDict(tensors, options);
  } finally {
    releaseAll(tensors); // loadStateDict copied what it needed; on a GPU these would stay allocated
  }
}

function releaseAll(tensors: ReadonlyMap<string, Tensor>): void {
  for (const t of tensors.values()) t.dispose();
}

const OPTIMIZER_META_KEY = 'optimizer';
const SCHEDULE_META_KEY = 'lr_scheduler';

/**
 * Writes the optimiser's moments and hyper-parameters, and the state of the LR schedule
 * attached to it (an LRScheduler attaches itself): resuming without the schedule would restart
 * the warmup and decay. For a whole training state (weights, optimiser, generators, data
 * position) in one atomic unit, use the trainer's checkpoints (core/train).
 */
export async function saveOptimizer(path: string, optimizer: Optimizer<Hyper>): Promise<void> {
  const sd = optimizer.stateDict();
  const metadata: Record<string, string> = { [OPTIMIZER_META_KEY]: JSON.stringify(sd.meta) };
  if (optimizer.lrScheduler) metadata[SCHEDULE_META_KEY] = JSON.stringify(optimizer.lrScheduler.stateDict());
  await saveSafetensors(path, sd.tensors, { metadata });
}

/**
 * Restores what saveOptimizer wrote. The schedule must match: a file with a schedule state
 * needs an LRScheduler attached to the optimiser (create it before loading), and an attached
 * LRScheduler needs a file that has one; either mismatch is an error, not a silent restart.
 */
export async function loadOptimizer(path: string, optimizer: Optimizer<Hyper>): Promise<void> {
  const backend = optimizer.params[0]?.backend;
  const { tensors, metadata } = await loadSafetensors(path, { backend });
  try {
    const parse = <T>(key: string): T | undefined => {
      const text = metadata?.[key];
      if (text === undefined) return undefined;
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new SafetensorsError(`loadOptimizer ${path}: the '${key}' metadata is not valid JSON`);
      }
    };
    const meta = parse<OptimizerStateDict['meta']>(OPTIMIZER_META_KEY);
    if (!meta) throw new SafetensorsError(`loadOptimizer ${path}: no '${OPTIMIZER_META_KEY}' metadata: not an optimiser checkpoint`);
    const schedule = parse<LrScheduleState>(SCHEDULE_META_KEY);
    if (schedule && !optimizer.lrScheduler) {
      throw new SafetensorsError(`loadOptimizer ${path}: the file holds an LR schedule state (step ${schedule.lastStep}) but the optimiser has no LRScheduler: create the LRScheduler before loading`);
    }
    if (!schedule && optimizer.lrScheduler) {
      throw new SafetensorsError(`loadOptimizer ${path}: the optimiser has an LRScheduler but the file holds no schedule state (saved without one): the schedule would restart at step 0`);
    }
    optimizer.loadStateDict({ tensors, meta });
    if (schedule) optimizer.lrScheduler!.loadStateDict(schedule);
  } finally {
    releaseAll(tensors); // loadStateDict copied what it needed
  }
}
