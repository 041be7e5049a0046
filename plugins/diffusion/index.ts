/** Diffusion training and sampling building blocks: the training step, the sampling pipeline. */
export { diffusionTrainingStep, encodeLatents, type DiffusionBatch, type DiffusionStepInfo, type DiffusionStepResult, type DiffusionTrainingModels, type DiffusionTrainingOptions, type PredictionTarget } from './train-step.ts';
export { encodePrompts, type PromptTokenizer } from './text.ts';
