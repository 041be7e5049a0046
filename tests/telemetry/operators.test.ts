import { from, lastValueFrom } from 'rxjs';
import { toArray } from 'rxjs/operators';
import { describe, expect, it } from 'vitest';
import { type StepEvent, TelemetryBus, type TrainingEvent, ema, eta, formatDuration, smoothLoss, throughput } from '../../core/index.ts';

const step = (n: number, loss: number, stepMs = 100, batchSize = 4): StepEvent => ({
  type: 'step', runId: 'r', time: n * 100, step: n, loss, lr: 1e-3, stepMs, batchSize, samplesPerSec: (batchSize * 1000) / stepMs, totalSteps: 10,
});
const collect = <T>(o: import('rxjs').Observable<T>) => lastValueFrom(o.pipe(toArray()));

describe('telemetry operators', () => {
  it('ema is bias-corrected and skips non-finite values', async () => {
    const out = await collect(from([2, 4, NaN, 4]).pipe(ema(0.5, (x: number) => x)));
    expect(out[0]).toBeCloseTo(2); // not pulled to 0
    expect(out[1]).toBeCloseTo((0.5 * 1 + 0.5 * 4) / 0.75); // m = 0.25*2... checked below
    const m1 = 0.5 * 2;
    const m2 = 0.5 * m1 + 0.5 * 4;
    expect(out[1]).toBeCloseTo(m2 / (1 - 0.25));
    expect(out[2]).toBe(out[1]);
    const m3 = 0.5 * m2 + 0.5 * 4;
    expect(out[3]).toBeCloseTo(m3 / (1 - 0.125));
  });

  it('smoothLoss attaches the EMA to step events only', async () => {
    const events: TrainingEvent[] = [
      { type: 'run_start', runId: 'r', time: 0, config: {}, parameterCounts: { total: 1, trainable: 1 } },
      step(1, 1), step(2, 1), { type: 'eval', runId: 'r', time: 1, step: 2, metrics: { x: 1 } }, step(3, 1),
    ];
    const out = await collect(from(events).pipe(smoothLoss(0.9)));
    expect(out.map((e) => e.step)).toEqual([1, 2, 3]);
    for (const e of out) expect(e.smoothedLoss).toBeCloseTo(1);
  });

  it('smoothLoss is ema() over the losses: NaN before the first finite loss, skips a NaN after it', async () => {
    const losses = [NaN, 2, NaN, 4, 1];
    const out = await collect(from(losses.map((l, i) => step(i + 1, l))).pipe(smoothLoss(0.8)));
    const want = await collect(from(losses).pipe(ema(0.8, (x: number) => x)));
    expect(out.map((e) => e.smoothedLoss)).toEqual(want);
    expect(want[0]).toBeNaN();
    expect(want[1]).toBeCloseTo(2);
    expect(want[2]).toBe(want[1]);
    expect(want[3]).toBeCloseTo((0.8 * 0.2 * 2 + 0.2 * 4) / (1 - 0.64));
    expect(out.map((e) => e.loss)).toEqual(losses);
    expect(() => smoothLoss(1)).toThrow(/smoothLoss: beta must be in \[0, 1\)/);
    expect(() => eta(10, 0)).toThrow(/eta: window must be an integer >= 1/);
  });

  it('throughput and eta use a sliding window of step times', async () => {
    const events = [step(1, 1, 100), step(2, 1, 300), step(3, 1, 200)];
    const tp = await collect(from(events).pipe(throughput(2)));
    expect(tp.at(-1)).toEqual({ step: 3, samplesPerSec: 8 * 1000 / 500, stepsPerSec: 2 * 1000 / 500 });
    const e = await collect(from(events).pipe(eta(undefined, 3)));
    expect(e.at(-1)).toEqual({ step: 3, totalSteps: 10, etaMs: 7 * 200, fraction: 0.3 });
    expect(formatDuration(65_000)).toBe('1m 05s');
    expect(formatDuration(3_720_000)).toBe('1h 02m');
    expect(formatDuration(NaN)).toBe('--');
  });

  it('the bus stamps, times steps and warns on NaN loss and exploding gradients', async () => {
    let now = 1000;
    const bus = new TelemetryBus({ runId: 'test', now: () => now, explodingGradNorm: 10 });
    const all = collect(bus.events$);
    bus.runStart({ lr: 1 }, { total: 10, trainable: 5 }, 3);
    now += 250;
    const s = bus.step({ step: 1, loss: 0.5, lr: 1, batchSize: 5, gradNorm: 1 });
    expect(s).toMatchObject({ stepMs: 250, samplesPerSec: 20, runId: 'test', time: 1250 });
    now += 50;
    bus.step({ step: 2, loss: NaN, lr: 1, batchSize: 5, gradNorm: 100 });
    now += 50;
    bus.end();
    bus.step({ step: 3, loss: 1, lr: 1, batchSize: 5 }); // ignored after the end
    const events = await all;
    expect(events.map((e) => e.type)).toEqual(['run_start', 'step', 'step', 'warning', 'warning', 'run_end']);
    expect(events[3]).toMatchObject({ kind: 'nonfinite_loss', step: 2 });
    expect(events[4]).toMatchObject({ kind: 'exploding_grad_norm', message: 'gradient norm 100.0 exceeds 10 at step 2' });
    expect(events[5]).toMatchObject({ status: 'completed', steps: 2, durationMs: 350 });
  });
});
