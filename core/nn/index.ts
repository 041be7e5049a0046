/** nn: modules, layers and initialisers (PyTorch's torch.nn, with diffusers' key names). */
export { Module, UnaryModule, StateDictError, matchesPattern, patternMatcher, describeParameters, type StateDict, type LoadStateDictOptions, type LoadStateDictResult, type NamePattern } from './module.ts';
export { replaceStorage, copyInto, isDenseLeaf, moveToBackend } from './parameter.ts';
export * as init from './init.ts';
export { scaledDotProductAttention, type AttentionOptions } from './functional.ts';
export { type LayerOptions, initUniform, initNormal } from './layers/options.ts';
export { MetaBackend, metaBackend, isMetaBackend, shapeOnly } from './meta.ts';
export { Linear, type LinearOptions } from './layers/linear.ts';
export { Conv2d, type Conv2dLayerOptions } from './layers/conv2d.ts';
export { GroupNorm, LayerNorm, type GroupNormOptions, type LayerNormOptions } from './layers/norm.ts';
export { BatchNorm1d, BatchNorm2d, type BatchNormOptions as BatchNormLayerOptions } from './layers/batchnorm.ts';
export { Embedding } from './layers/embedding.ts';
export { SiLU, GELU, ReLU, Identity, Dropout } from './layers/activation.ts';
export { Sequential, ModuleList } from './layers/containers.ts';
export { MultiheadAttention, type MultiheadAttentionOptions, type AttentionForwardOptions } from './layers/attention.ts';
