/**
 * Several ctrLoRA conditions on one base ControlNet: each condition owns its LoRA weights
 * and its zero convs and transformer norms (which live in the shared base modules), so before
 * its pass the condition's whole set is put back in place. `ctrloraConditionSwitch` snapshots
 * that set now (after the condition was trained or loaded) and returns the hook a
 * SampleCondition's `activate` takes.
 */
import type { Module } from '../../core/nn/module.ts';
import { type LoraModel, selectCtrloraTrainable } from '../lora/index.ts';

export function ctrloraConditionSwitch(lora: LoraModel, controlnet: Module, adapter: string): () => void {
  const set = selectCtrloraTrainable(controlnet, { adapter, apply: false });
  const extras = set.names.filter((n) => set.groups.get(n) !== 'lora');
  const snapshot = lora.adapterStateDict(adapter, { include: extras, copy: true });
  return () => {
    lora.setActiveAdapters([adapter]);
    lora.loadAdapterStateDict(adapter, snapshot);
  };
}
