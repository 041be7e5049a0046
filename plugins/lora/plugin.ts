/**
 * The LoRA adapter plugin: `register(container)` (no options) puts the adapter factory under
 * TOKENS.Adapter as 'lora'. A recipe asks the container for it and wraps whatever model it
 * wants adapted.
 */
import { type AnyContainer, checkOptionKeys, provide } from '../../core/plugins/any-container.ts';
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

export function register(container: AnyContainer, options: Readonly<Record<string, never>> = {}): void {
  checkOptionKeys('plugins/lora', options, []);
  provide(container, TOKENS.Adapter, loraAdapterFactory.name, () => loraAdapterFactory);
}
