/** What a telemetry sink is: a plugin that subscribes to a run's events and writes them somewhere. */
import type { Observable } from 'rxjs';
import type { TrainingEvent } from './events.ts';

export interface TelemetrySink {
  /** The name a config uses for it (`progress`, `jsonl`, `loss-curve`). */
  readonly name: string;
  /** Subscribes to a run's events (called once per run, before run_start). */
  attach(events: Observable<TrainingEvent>): void;
  /** Finishes the output (flushes files, renders images); the trainer awaits it after run_end. */
  close(): Promise<void>;
}
