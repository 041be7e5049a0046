/**
 * Pure RxJS operators over the telemetry stream: smoothing, throughput and ETA. Each is a
 * function of the events alone (the time comes from the events), so they are tested
 * with plain arrays of events.
 */
import { type OperatorFunction, pipe } from 'rxjs';
import { filter, map, scan } from 'rxjs/operators';
import type { StepEvent, TrainingEvent } from './events.ts';

/** Only the step events. */
export function steps(): OperatorFunction<TrainingEvent, StepEvent> {
  return filter((e: TrainingEvent): e is StepEvent => e.type === 'step');
}

/**
 * Exponential moving average of a value, bias-corrected like Adam's moments (so the first
 * values are not pulled towards 0): ema_t = (beta m_{t-1} + (1 - beta) x_t) / (1 - beta^t).
 * Non-finite values are skipped so one NaN loss does not poison the curve.
 */
export function ema<T>(beta: number, select: (value: T) => number): OperatorFunction<T, number> {
  if (!(beta >= 0 && beta < 1)) throw new RangeError(`ema: beta must be in [0, 1), got ${beta}`);
  return pipe(
    scan((acc: { m: number; n: number; out: number }, v: T) => {
      const x = select(v);
      if (!Number.isFinite(x)) return acc;
      const m = beta * acc.m + (1 - beta) * x;
      const n = acc.n + 1;
      return { m, n, out: m / (1 - beta ** n) };
    }, { m: 0, n: 0, out: NaN }),
    map((s) => s.out),
  );
}

export interface SmoothedStep extends StepEvent {
  smoothedLoss: number;
}

/** Step events with an EMA of the loss attached. */
export function smoothLoss(beta = 0.9): OperatorFunction<TrainingEvent, SmoothedStep> {
  return pipe(
    steps(),
    scan((acc: { m: number; n: number; last: SmoothedStep | null }, e: StepEvent) => {
      if (!Number.isFinite(e.loss)) return { ...acc, last: { ...e, smoothedLoss: acc.n ? acc.m / (1 - beta ** acc.n) : NaN } };
      const m = beta * acc.m + (1 - beta) * e.loss;
      const n = acc.n + 1;
      return { m, n, last: { ...e, smoothedLoss: m / (1 - beta ** n) } };
    }, { m: 0, n: 0, last: null }),
    map((s) => s.last!),
  );
}

export interface Throughput {
  step: number;
  /** Samples per second over the last `window` steps. */
  samplesPerSec: number;
  /** Steps per second over the same window. */
  stepsPerSec: number;
}

/** Throughput over a sliding window of steps (sum of samples / sum of step times). */
export function throughput(window = 20): OperatorFunction<TrainingEvent, Throughput> {
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`throughput: window must be an integer >= 1, got ${window}`);
  return pipe(
    steps(),
    scan((recent: StepEvent[], e: StepEvent) => [...recent, e].slice(-window), []),
    map((recent) => {
      const ms = recent.reduce((a, e) => a + e.stepMs, 0);
      const samples = recent.reduce((a, e) => a + e.batchSize, 0);
      return { step: recent.at(-1)!.step, samplesPerSec: ms > 0 ? (samples * 1000) / ms : 0, stepsPerSec: ms > 0 ? (recent.length * 1000) / ms : 0 };
    }),
  );
}

export interface Eta {
  step: number;
  totalSteps: number;
  /** Estimated ms to go, from the mean step time over the window. */
  etaMs: number;
  fraction: number;
}

/** Estimated time to finish, from totalSteps (argument, or each event's own) and recent step times. */
export function eta(totalSteps?: number, window = 20): OperatorFunction<TrainingEvent, Eta> {
  return pipe(
    steps(),
    scan((recent: StepEvent[], e: StepEvent) => [...recent, e].slice(-window), []),
    map((recent) => {
      const last = recent.at(-1)!;
      const total = totalSteps ?? last.totalSteps ?? last.step;
      const mean = recent.reduce((a, e) => a + e.stepMs, 0) / recent.length;
      const left = Math.max(0, total - last.step);
      return { step: last.step, totalSteps: total, etaMs: left * mean, fraction: total > 0 ? Math.min(1, last.step / total) : 1 };
    }),
  );
}

/** "1h 02m", "3m 05s", "12s": a duration for a progress bar. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(sec).padStart(2, '0')}s`;
  return `${sec}s`;
}
