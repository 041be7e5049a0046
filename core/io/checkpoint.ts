/**
 * Modules and optimisers to and from safetensors files. A module's file holds its state
 * dict under the dotted names PyTorch uses, so `safetensors.torch.load_file` + torch's
 * `load_state_dict` read it, and files written by PyTorch load here. An optimiser's file
 * holds its moment tensors (`state.{i}.exp_avg`) and its hyper-parameters as metadata.
 */
import type { Backend } from '../backend.ts';
import type { LoadStateDictOptions, LoadStateDictResult, Module } from '../nn/module.ts';
import type { Hyper, Optimizer, OptimizerStateDict } from '../optim/optimizer.ts';
import type { Tensor } from '../tensor.ts';
import { type EncodeOptions, SafetensorsError, loadSafetensors, saveSafetensors } from './safetensors.ts';

/** Writes module.stateDict() (metadata {"format": "pt"} plus any given). */
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

export async function saveOptimizer(path: string, optimizer: Optimizer<Hyper>): Promise<void> {
  const sd = optimizer.stateDict();
  await saveSafetensors(path, sd.tensors, { metadata: { [OPTIMIZER_META_KEY]: JSON.stringify(sd.meta) } });
}

export async function loadOptimizer(path: string, optimizer: Optimizer<Hyper>): Promise<void> {
  const backend = optimizer.params[0]?.backend;
  const { tensors, metadata } = await loadSafetensors(path, { backend });
  try {
    const meta = metadata?.[OPTIMIZER_META_KEY];
    if (!meta) throw new SafetensorsError(`loadOptimizer ${path}: no '${OPTIMIZER_META_KEY}' metadata: not an optimiser checkpoint`);
    let parsed: OptimizerStateDict['meta'];
    try {
      parsed = JSON.parse(meta) as OptimizerStateDict['meta'];
    } catch {
      throw new SafetensorsError(`loadOptimizer ${path}: the '${OPTIMIZER_META_KEY}' metadata is not valid JSON`);
    }
    optimizer.loadStateDict({ tensors, meta: parsed });
  } finally {
    releaseAll(tensors); // loadStateDict copied what it needed
  }
}
