/** Diffusion training and sampling building blocks: the training step, the sampling pipeline, image writers. */
export { diffusionTrainingStep, encodeLatents, type DiffusionBatch, type DiffusionStepInfo, type DiffusionStepResult, type DiffusionTrainingModels, type DiffusionTrainingOptions, type PredictionTarget } from './train-step.ts';
export { DiffusionPipeline, SAMPLE_DEFAULTS, type DiffusionPipelineModels, type DiffusionPipelineOptions, type SampleResult } from './pipeline.ts';
export { toRgb8, writePngs, gridRgb8, writeGrid, type GridOptions } from './images.ts';
export { encodePrompts, type PromptTokenizer } from './text.ts';
export { register, type DiffusionPluginOptions } from './plugin.ts';
export { ctrloraConditionSwitch } from './conditions.ts';
export { LatentCache, type LatentCacheOptions } from './latent-cache.ts';
export { psnr, ssim, meanFinite } from './metrics.ts';
