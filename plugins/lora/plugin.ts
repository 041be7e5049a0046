/**
 * The LoRA adapter plugin: registered under TOKENS.Adapter. A recipe asks the container for
 * the adapter factory and wraps whatever model it wants adapted.
 */
import type { DependencyContainer } from 'tsyringe';
import type { Module } from '../../core/nn/module.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { LoraModel } from './lora-model.ts';
import { type CtrloraTrainableOptions, type CtrloraTrainableSet, selectCtrloraTrainable } from './ctrlora-trainable.ts';

/** What TOKENS.Adapter resolves to. */
export interface AdapterFactory {
  readonly name: string;
  /** Wraps a model so adapters can be added to it. */
  wrap(model: Module): LoraModel;
  /** Selects (and by default applies) the ctrLoRA trainable set on a ControlNet. */
  selectTrainable(model: Module, options?: CtrloraTrainableOptions): CtrloraTrainableSet;
}

export const loraAdapterFactory: AdapterFactory = {
  name: 'lora',
  wrap: (model) => new LoraModel(model),
  selectTrainable: (model, options) => selectCtrloraTrainable(model, options),
};

export function registerLoraPlugin(container: DependencyContainer): void {
  container.register(TOKENS.Adapter, { useValue: loraAdapterFactory });
}
