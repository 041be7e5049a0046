/** LoRA adapters (PEFT-style injection, CtrLoRA naming, merge/unmerge, adapter-only files). */
export { type LoraConfig, type LoraInit, type LoraLayerType, type ResolvedLoraConfig, resolveLoraConfig, matchesTarget } from './config.ts';
export { LoraPair, LoraHost, attachLora, detachLora, loraHostOf, LORA_HOST_NAME } from './lora-layer.ts';
export { LoraModel, type AdapterNaming, type AdapterStateDictOptions, type LoadAdapterOptions, type AddAdapterOptions } from './lora-model.ts';
export { selectCtrloraTrainable, ctrloraGroupOf, type CtrloraTrainableOptions, type CtrloraTrainableSet, type CtrloraGroup } from './ctrlora-trainable.ts';
export { register, loraAdapterFactory, type AdapterFactory } from './plugin.ts';
