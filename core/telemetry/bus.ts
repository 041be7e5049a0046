/**
 * The telemetry bus of one run: a Subject of TrainingEvents that a trainer emits into and
 * sinks subscribe to. It stamps every event with the run id and time, times steps (so a
 * trainer reports only what it computed: loss, lr, grad norm, batch size) and raises the
 * warnings every run wants: a NaN/Inf loss and an exploding gradient norm.
 */
import { Observable, Subject } from 'rxjs';
import { filter } from 'rxjs/operators';
import type { EventInput, EventOf, RunEndEvent, StepEvent, TrainingEvent, TrainingEventType } from './events.ts';

export interface TelemetryBusOptions {
  runId?: string;
  /** A grad norm above this raises an `exploding_grad_norm` warning. Default 1e3. */
  explodingGradNorm?: number;
  /** The clock (ms); tests pass a fake one. Default Date.now. */
  now?: () => number;
}

export interface StepReport {
  step: number;
  loss: number;
  lr: number;
  batchSize: number;
  gradNorm?: number;
  totalSteps?: number;
  /** Override the measured step time (ms). */
  stepMs?: number;
}

export class TelemetryBus {
  readonly runId: string;
  private readonly subject = new Subject<TrainingEvent>();
  /** Every event of the run, in order. Completes after run_end. */
  readonly events$: Observable<TrainingEvent> = this.subject.asObservable();
  private readonly now: () => number;
  private readonly explodingGradNorm: number;
  private startedAt: number | null = null;
  private lastStepAt: number | null = null;
  private stepsDone = 0;
  private ended = false;

  constructor(options: TelemetryBusOptions = {}) {
    this.now = options.now ?? Date.now;
    this.runId = options.runId ?? `run-${new Date(this.now()).toISOString().replace(/[:.]/g, '-')}`;
    this.explodingGradNorm = options.explodingGradNorm ?? 1e3;
  }

  /** The events of one type, typed. */
  on<T extends TrainingEventType>(type: T): Observable<EventOf<T>> {
    return this.events$.pipe(filter((e): e is EventOf<T> => e.type === type));
  }

  emit(event: EventInput): void {
    if (this.ended) return;
    const full = { ...event, runId: this.runId, time: event.time ?? this.now() } as TrainingEvent;
    if (full.type === 'run_start') {
      this.startedAt = full.time;
      this.lastStepAt = full.time;
      this.stepsDone = full.resumedFrom?.step ?? 0;
    }
    this.subject.next(full);
  }

  runStart(config: Readonly<Record<string, unknown>>, parameterCounts: { total: number; trainable: number }, totalSteps?: number, resumedFrom?: { step: number; path: string }): void {
    this.emit({ type: 'run_start', config, parameterCounts, ...(totalSteps !== undefined ? { totalSteps } : {}), ...(resumedFrom ? { resumedFrom } : {}) });
  }

  /** Emits a step event timed since the previous step (or run start), then any warnings. */
  step(report: StepReport): StepEvent {
    const t = this.now();
    const stepMs = report.stepMs ?? (this.lastStepAt === null ? 0 : t - this.lastStepAt);
    this.lastStepAt = t;
    this.stepsDone = report.step;
    const event: EventInput<StepEvent> = {
      type: 'step', step: report.step, loss: report.loss, lr: report.lr, batchSize: report.batchSize, stepMs,
      samplesPerSec: stepMs > 0 ? (report.batchSize * 1000) / stepMs : 0, time: t,
      ...(report.gradNorm !== undefined ? { gradNorm: report.gradNorm } : {}),
      ...(report.totalSteps !== undefined ? { totalSteps: report.totalSteps } : {}),
    };
    this.emit(event);
    if (!Number.isFinite(report.loss)) {
      this.warn('nonfinite_loss', `loss is ${report.loss} at step ${report.step}`, report.step);
    }
    if (report.gradNorm !== undefined) {
      if (!Number.isFinite(report.gradNorm)) this.warn('nonfinite_grad_norm', `gradient norm is ${report.gradNorm} at step ${report.step}`, report.step);
      else if (report.gradNorm > this.explodingGradNorm) {
        this.warn('exploding_grad_norm', `gradient norm ${report.gradNorm.toPrecision(4)} exceeds ${this.explodingGradNorm} at step ${report.step}`, report.step);
      }
    }
    return { ...event, runId: this.runId, time: t } as StepEvent;
  }

  warn(kind: EventOf<'warning'>['kind'], message: string, step?: number): void {
    this.emit({ type: 'warning', kind, message, ...(step !== undefined ? { step } : {}) });
  }

  /** Emits run_end and completes the stream; later emits are ignored. */
  end(status: RunEndEvent['status'] = 'completed', error?: unknown): void {
    if (this.ended) return;
    const t = this.now();
    this.emit({
      type: 'run_end', status, steps: this.stepsDone, durationMs: this.startedAt === null ? 0 : t - this.startedAt, time: t,
      ...(error !== undefined ? { error: error instanceof Error ? error.message : String(error) } : {}),
    });
    this.ended = true;
    this.subject.complete();
  }
}
