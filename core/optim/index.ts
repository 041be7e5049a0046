/** Optimisers, gradient clipping and learning-rate schedules (torch.optim). */
export { Optimizer, OptimizerError, type OptimizerStateDict, type ParamGroup, type ParamsInput, type ParamState, type Hyper, type LrScheduleState } from './optimizer.ts';
export { Adam, AdamW, type AdamHyperParams, type AdamOptions } from './adam.ts';
export { SGD, type SGDHyperParams } from './sgd.ts';
export { clipGradNorm, gradNorm, type ClipOptions } from './clip.ts';
export { LRScheduler, lrLambda, type LrLambda, type ScheduleName, type ScheduleOptions } from './schedule.ts';
