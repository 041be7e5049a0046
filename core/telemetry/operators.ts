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

/** The state of a bias-corrected EMA: the raw moment and how many values went in. */
interface EmaState {
  m: number;
  n: number;
}
const EMA_START: EmaState = { m: 0, n: 0 };

function checkBeta(op: string, beta: number): void {
  if (!(beta >= 0 && beta < 1)) throw new RangeError(`${op}: beta must be in [0, 1), got ${beta}`);
}
/** Non-finite values are skipped so one NaN loss does not poison the curve. */
function emaUpdate(beta: number, s: EmaState, x: number): EmaState {
  return Number.isFinite(x) ? { m: beta * s.m + (1 - beta) * x, n: s.n + 1 } : s;
}
/** NaN until a finite value has gone in. */
function emaValue(beta: number, s: EmaState): number {
  return s.n ? s.m / (1 - beta ** s.n) : NaN;
}

/**
 * Exponential moving average of a value, bias-corrected like Adam's moments (so the first
 * values are not pulled towards 0): ema_t = (beta m_{t-1} + (1 - beta) x_t) / (1 - beta^t).
 * Non-finite values are skipped so one NaN loss does not poison the curve.
 */
export function ema<T>(beta: number, select: (value: T) => number): OperatorFunction<T, number> {
  checkBeta('ema', beta);
  return pipe(
    scan((s: EmaState, v: T) => emaUpdate(beta, s, select(v)), EMA_START),
    map((s) => emaValue(beta, s)),
  );
}

export interface SmoothedStep extends StepEvent {
  smoothedLoss: number;
}

/** Step events with an EMA of the loss attached (the ema() above, over e.loss). */
export function smoothLoss(beta = 0.9): OperatorFunction<TrainingEvent, SmoothedStep> {
  checkBeta('smoothLoss', beta);
  return pipe(
    steps(),
    scan((acc: { s: EmaState; e: StepEvent | null }, e: StepEvent) => ({ s: emaUpdate(beta, acc.s, e.loss), e }), { s: EMA_START, e: null }),
    map(({ s, e }) => ({ ...e!, smoothedLoss: emaValue(beta, s) })),
  );
}

/** The last `window` step events, after each step. */
function recentSteps(op: string, window: number): OperatorFunction<TrainingEvent, StepEvent[]> {
  if (!Number.isInteger(window) || window < 1) throw new RangeError(`${op}: window must be an integer >= 1, got ${window}`);
  return pipe(
    steps(),
    scan((recent: StepEvent[], e: StepEvent) => [...recent, e].slice(-window), []),
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
  return pipe(
    recentSteps('throughput', window),
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
    recentSteps('eta', window),
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
