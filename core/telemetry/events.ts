/**
 * The training telemetry events: one discriminated union, so a subscriber switches on
 * `type` and TypeScript knows every field. Every event carries the run id and a wall-clock
 * time in ms since the epoch; sinks never need anything else.
 */
export interface EventBase {
  runId: string;
  /** Date.now() when the event was emitted. */
  time: number;
}

export interface RunStartEvent extends EventBase {
  type: 'run_start';
  /** The run's configuration, as given (JSON-able). */
  config: Readonly<Record<string, unknown>>;
  parameterCounts: { total: number; trainable: number };
  /** Planned number of optimiser steps (for progress and ETA), when known. */
  totalSteps?: number;
  /** Set when the run continues from a checkpoint: its step (the next step event is step + 1) and folder. */
  resumedFrom?: { step: number; path: string };
}

export interface StepEvent extends EventBase {
  type: 'step';
  /** 1-based optimiser step. */
  step: number;
  totalSteps?: number;
  loss: number;
  lr: number;
  gradNorm?: number;
  /** Wall time of this step. */
  stepMs: number;
  /** Samples processed in this step. */
  batchSize: number;
  samplesPerSec: number;
}

export interface EvalEvent extends EventBase {
  type: 'eval';
  step: number;
  metrics: Readonly<Record<string, number>>;
}

export interface SampleEvent extends EventBase {
  type: 'sample';
  step: number;
  /** Image files written. */
  paths: readonly string[];
}

export interface CheckpointEvent extends EventBase {
  type: 'checkpoint';
  step: number;
  path: string;
}

/** `skipped_step`: the trainer's NaN/Inf guard skipped an optimiser update. */
export type WarningKind = 'nonfinite_loss' | 'exploding_grad_norm' | 'nonfinite_grad_norm' | 'skipped_step' | 'other';

export interface WarningEvent extends EventBase {
  type: 'warning';
  step?: number;
  kind: WarningKind;
  message: string;
}

export interface RunEndEvent extends EventBase {
  type: 'run_end';
  status: 'completed' | 'failed' | 'stopped';
  /** Steps completed. */
  steps: number;
  durationMs: number;
  error?: string;
}

export type TrainingEvent = RunStartEvent | StepEvent | EvalEvent | SampleEvent | CheckpointEvent | WarningEvent | RunEndEvent;
export type TrainingEventType = TrainingEvent['type'];

/** The event of a given type (`EventOf<'step'>` is StepEvent). */
export type EventOf<T extends TrainingEventType> = Extract<TrainingEvent, { type: T }>;

/** What an emitter passes: the bus adds runId and time. */
export type EventInput<E extends TrainingEvent = TrainingEvent> = E extends TrainingEvent ? Omit<E, 'runId' | 'time'> & { time?: number } : never;
