/** The training loop: data loader, trainer, one-unit checkpoints (see docs/training.md). */
export { DataLoader, defaultCollate, epochOrder, type BatchSource, type Collated, type DataLoaderOptions, type DataPosition, type DatasetLike, type LoadedBatch } from './data-loader.ts';
export {
  CheckpointError, checkpointName, configDiff, listCheckpoints, loadCheckpoint, readTrainerState, resolveCheckpoint, saveCheckpoint,
  type Models, type SaveCheckpointOptions, type SavePhase, type TrainerState, type WeightsToSave,
} from './checkpoint.ts';
export {
  Trainer, TrainingError, type CheckpointOptions, type FitResult, type StepContext, type StepOutcome, type TrainerOptions,
  type ValidationContext, type ValidationResult,
} from './trainer.ts';
