/**
 * The Trainer in process: the NaN/Inf guard, config-mismatch refusal, the event order, the
 * JSONL and PNG sinks on a real run, gradient accumulation, tidy() around every step.
 */
import { appendFile, mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AdamW, CheckpointError, LayerNorm, Linear, loadModule, readTrainerState, DataLoader, JsonlSink, LossCurveSink, ReferenceBackend, SGD, TOKENS, type Tensor, type TrainingEvent, Trainer,
  TrainingError, createRunContainer, getDefaultBackend, manualSeed, mseLoss, setDefaultBackend, startTelemetry,
} from '../../core/index.ts';
import { TinyNet, tinyDataset, tinyTrainer, weightsOf } from './fixtures/tiny-run.ts';

const root = await mkdtemp(join(tmpdir(), 'trainer-'));
afterAll(() => rm(root, { recursive: true, force: true }));

/** The optimiser's moments as plain numbers. */
function momentsOf(opt: AdamW): Record<string, number[]> {
  return Object.fromEntries([...opt.stateDict().tensors].map(([k, t]) => [k, Array.from(t.toArray())]));
}

function collect(trainer: Trainer<unknown>): TrainingEvent[] {
  const events: TrainingEvent[] = [];
  trainer.bus.events$.subscribe((e) => events.push(e));
  return events;
}

describe('Trainer: NaN/Inf guard', () => {
  it('skips a step whose batch holds a NaN: weights and Adam moments stay as they were, the skip is reported', async () => {
    // No shuffling, batch 4, accumulation 2: sample 9 lies in micro-batch 2, i.e. optimiser step 2.
    const snapshots: { w: Record<string, number[]>; m: Record<string, number[]> }[] = [];
    const { trainer, model, optimizer } = tinyTrainer({
      data: new DataLoader(tinyDataset({ nanAt: [9] }), { batchSize: 4, shuffle: false }),
      maxSteps: 4,
      hooks: { onStepEnd: () => void snapshots.push({ w: weightsOf(model), m: momentsOf(optimizer) }) },
    });
    const events = collect(trainer as Trainer<unknown>);
    const result = await trainer.fit();
    expect(result.history.map((h) => h.skipped)).toEqual([false, true, false, false]);
    expect(result.history[1]!.loss).toBeNaN();
    expect(result.skippedSteps).toBe(1);
    expect(snapshots[1]!.w).toEqual(snapshots[0]!.w);
    expect(snapshots[1]!.m).toEqual(snapshots[0]!.m);
    expect(snapshots[2]!.w).not.toEqual(snapshots[1]!.w); // training goes on
    for (const v of Object.values(snapshots[3]!.w).flat()) expect(Number.isFinite(v)).toBe(true);
    const skipped = events.filter((e) => e.type === 'warning' && e.kind === 'skipped_step');
    expect(skipped).toHaveLength(1);
    expect(skipped[0]).toMatchObject({ step: 2 });
    expect((skipped[0] as { message: string }).message).toMatch(/loss is NaN.*fc1\.weight/);
    expect(events.some((e) => e.type === 'warning' && e.kind === 'nonfinite_loss' && e.step === 2)).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'run_end', status: 'completed' });
  });

  it('stops after K consecutive skips with an error naming the step and what went non-finite', async () => {
    const { trainer, model } = tinyTrainer({
      trainingStep: (batch, ctx) => {
        const loss = mseLoss(model.forward(batch.x), batch.y);
        return ctx.step >= 3 ? loss.mul(Infinity) : loss;
      },
      nanGuard: { maxConsecutiveSkips: 3 },
    });
    const events = collect(trainer as Trainer<unknown>);
    let before: Record<string, number[]> = {};
    trainer.options.hooks = { onStepEnd: (r) => { if (r.step === 2) before = weightsOf(model); } };
    const err = await trainer.fit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingError);
    expect((err as Error).message).toMatch(/^step 5: 3 consecutive steps were non-finite .*loss is Infinity/);
    expect(weightsOf(model)).toEqual(before);
    expect(events.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step)).toEqual([1, 2, 3, 4, 5]);
    expect(events.at(-1)).toMatchObject({ type: 'run_end', status: 'failed', error: (err as Error).message });
  });
});

describe('Trainer: checkpoints', () => {
  it('refuses a checkpoint from another config, naming every difference', async () => {
    const dir = join(root, 'mismatch');
    await tinyTrainer({ maxSteps: 2, checkpoint: { dir } }).trainer.fit();
    const other = tinyTrainer({ lr: 0.01, batchSize: 6, maxSteps: 4, checkpoint: { dir }, resume: 'latest' }).trainer;
    const err = await other.fit().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    const msg = (err as Error).message;
    expect(msg).toContain('another config');
    expect(msg).toContain('config.run.lr: 0.05 -> 0.01');
    expect(msg).toContain('config.trainer.batchSize: 4 -> 6');
    expect(msg).not.toContain('maxSteps'); // extending a run is allowed
  });

  it('refuses a checkpoint whose trainable weights differ from the model', async () => {
    const dir = join(root, 'frozen');
    await tinyTrainer({ maxSteps: 2, checkpoint: { dir } }).trainer.fit();
    const model = new TinyNet();
    model.freeze('fc2.*');
    const { trainer } = tinyTrainer({ maxSteps: 4, checkpoint: { dir }, resume: 'latest' });
    (trainer.options as { models: unknown }).models = model;
    await expect(trainer.fit()).rejects.toThrow(/not trainable here: fc2\.weight, fc2\.bias/);
  });

  it('extends a finished run: resuming with more steps gives the longer run exactly', async () => {
    const dir = join(root, 'extend');
    manualSeed(0); // the dropout masks come from the process-wide generator
    const full = await tinyTrainer({ maxSteps: 6 }).trainer.fit();
    manualSeed(0);
    const first = await tinyTrainer({ maxSteps: 4, checkpoint: { dir } }).trainer.fit();
    manualSeed(123); // restored from the checkpoint
    const rest = await tinyTrainer({ maxSteps: 6, checkpoint: { dir }, resume: 'latest' }).trainer.fit();
    expect(rest.resumedFrom).toBe(join(dir, 'step-00000004'));
    expect(rest.history.map((h) => h.step)).toEqual([5, 6]);
    expect([...first.history, ...rest.history].map((h) => h.loss)).toEqual(full.history.map((h) => h.loss));
  });
});

describe('Trainer: checkpoint contents', () => {
  it('several models, all weights: one file each, loadable alone, and an exact resume', async () => {
    const dir = join(root, 'two-models');
    const build = (resume: string | null, maxSteps: number) => {
      const encoder = new Linear(4, 3, { seed: 1 });
      const head = new Linear(3, 1, { seed: 2 });
      const norm = new LayerNorm(3);
      norm.freeze(); // frozen: saved with weights 'all', absent with 'trainable'
      const optimizer = new AdamW([...encoder.trainableParameters(), ...head.trainableParameters()], { lr: 0.05 });
      const trainer = new Trainer({
        models: { encoder, head, norm }, optimizer, data: new DataLoader(tinyDataset(), { batchSize: 4, seed: 1 }),
        trainingStep: (b: { x: Tensor; y: Tensor }) => mseLoss(head.forward(norm.forward(encoder.forward(b.x).tanh())), b.y),
        maxSteps, checkpoint: { dir, weights: 'all' }, resume, config: { kind: 'two' },
      });
      return { trainer, encoder, head };
    };
    const full = await build(null, 4).trainer.fit();
    await rm(dir, { recursive: true });
    const first = await build(null, 2).trainer.fit();
    expect((await readdir(first.lastCheckpoint!)).sort()).toEqual(['encoder.safetensors', 'head.safetensors', 'norm.safetensors', 'optimizer.safetensors', 'trainer.json']);
    const probe = new LayerNorm(3);
    await loadModule(join(first.lastCheckpoint!, 'norm.safetensors'), probe); // a plain module file
    const rest = build('latest', 4);
    const r = await rest.trainer.fit();
    expect([...first.history, ...r.history].map((h) => h.loss)).toEqual(full.history.map((h) => h.loss));
    const state = await readTrainerState(r.lastCheckpoint!);
    expect(state).toMatchObject({ step: 4, weights: 'all', batchesSeen: 4, data: { epoch: 0, batch: 4 }, guard: { consecutiveSkips: 0, totalSkips: 0 } });
    expect(Object.keys(state.generators)).toEqual(['trainer', 'default']);
  });

  it('a fresh run into a folder of checkpoints, or a resume from an older one, is refused unless overwrite', async () => {
    const dir = join(root, 'occupied');
    await tinyTrainer({ maxSteps: 4, checkpoint: { dir, everySteps: 2 } }).trainer.fit();
    await expect(tinyTrainer({ maxSteps: 4, checkpoint: { dir } }).trainer.fit()).rejects.toThrow(/already holds checkpoints \(step-00000002, step-00000004\): resume with resume: 'latest'/);
    const older = join(dir, 'step-00000002');
    await expect(tinyTrainer({ maxSteps: 4, checkpoint: { dir }, resume: older }).trainer.fit()).rejects.toThrow(/newer than step-00000002 \(step-00000004\)/);
    const r = await tinyTrainer({ maxSteps: 3, checkpoint: { dir, overwrite: true }, resume: older }).trainer.fit();
    expect(r.resumedFrom).toBe(older);
    expect(await readdir(dir)).toEqual(['step-00000002', 'step-00000003']);
    await tinyTrainer({ maxSteps: 1, checkpoint: { dir, overwrite: true } }).trainer.fit();
    expect(await readdir(dir)).toEqual(['step-00000001']);
  });

  it('a damaged checkpoint is refused naming the file', async () => {
    const dir = join(root, 'damaged');
    const { lastCheckpoint } = await tinyTrainer({ maxSteps: 2, checkpoint: { dir } }).trainer.fit();
    await truncate(join(lastCheckpoint!, 'optimizer.safetensors'), 100);
    await expect(tinyTrainer({ maxSteps: 3, checkpoint: { dir }, resume: 'latest' }).trainer.fit()).rejects.toThrow(/optimizer\.safetensors is 100 bytes, expected \d+/);
    await expect(tinyTrainer({ maxSteps: 3, resume: join(dir, 'nope') }).trainer.fit()).rejects.toThrow(/nope is not a checkpoint folder \(no trainer\.json\)/);
    const state = JSON.parse(await readFile(join(lastCheckpoint!, 'trainer.json'), 'utf8'));
    await writeFile(join(lastCheckpoint!, 'trainer.json'), JSON.stringify({ ...state, step: -1, data: { epoch: 0 } }));
    await expect(tinyTrainer({ maxSteps: 3, checkpoint: { dir }, resume: 'latest' }).trainer.fit()).rejects.toThrow(/trainer\.json has missing or invalid fields: step, data$/);
  });
});

describe('Trainer: options', () => {
  it('refuses an optimiser over parameters that no model holds (checkpoints would miss them), and bad numbers', () => {
    const model = new TinyNet();
    const stray = new Linear(2, 2, { seed: 9 });
    const optimizer = new AdamW([...model.trainableParameters(), ...stray.parameters()]);
    const data = new DataLoader(tinyDataset(), { batchSize: 4 });
    const base = { models: model, optimizer, data, trainingStep: (b: { x: Tensor; y: Tensor }) => mseLoss(model.forward(b.x), b.y), maxSteps: 2 };
    expect(() => new Trainer(base)).toThrow(/the optimiser trains 2 parameter\(s\) that no model in `models` holds/);
    const frozen = new TinyNet();
    frozen.freeze('fc2.*'); // frozen parameters in the optimiser are allowed (no gradient, no update)
    expect(() => new Trainer({ ...base, models: frozen, optimizer: new AdamW(frozen.parameters()) })).not.toThrow();
    const ok = { ...base, optimizer: new AdamW(model.trainableParameters()) };
    expect(() => new Trainer({ ...ok, maxSteps: undefined })).toThrow(/give maxSteps or maxEpochs/);
    expect(() => new Trainer({ ...ok, gradientAccumulationSteps: 0 })).toThrow(/gradientAccumulationSteps must be an integer >= 1, got 0/);
    expect(() => new Trainer({ ...ok, maxGradNorm: NaN })).toThrow(/maxGradNorm must be a finite number > 0, got NaN/);
    expect(() => new Trainer({ ...ok, resume: 'latest' })).toThrow(/resume 'latest' needs checkpoint\.dir/);
    expect(() => new Trainer({ ...ok, maxSteps: undefined, maxEpochs: 2 }).totalSteps).not.toThrow();
    expect(new Trainer({ ...ok, maxSteps: undefined, maxEpochs: 2, gradientAccumulationSteps: 4 }).totalSteps).toBe(3); // 2 * 6 batches / 4
  });

  it('runs once: a second fit() is refused (its bus has ended)', async () => {
    const { trainer } = tinyTrainer({ maxSteps: 1 });
    await trainer.fit();
    await expect(trainer.fit()).rejects.toThrow(/has run already/);
  });
});

describe('Trainer: stop()', () => {
  it('stops after the step in progress, saves there, ends the run as stopped; a resume finishes it exactly', async () => {
    const dir = join(root, 'stop');
    manualSeed(0);
    const full = await tinyTrainer({ maxSteps: 6 }).trainer.fit();
    manualSeed(0);
    const { trainer } = tinyTrainer({ maxSteps: 6, checkpoint: { dir, everySteps: 4 } });
    trainer.options.hooks = { onStepEnd: (r) => { if (r.step === 3) trainer.stop(); } };
    const events = collect(trainer as Trainer<unknown>);
    const first = await trainer.fit();
    expect(first).toMatchObject({ step: 3, stopped: true, lastCheckpoint: join(dir, 'step-00000003') });
    expect(events.at(-1)).toMatchObject({ type: 'run_end', status: 'stopped', steps: 3 });
    const rest = await tinyTrainer({ maxSteps: 6, checkpoint: { dir, everySteps: 4 }, resume: 'latest' }).trainer.fit();
    expect(rest.stopped).toBe(false);
    expect([...first.history, ...rest.history].map((h) => h.loss)).toEqual(full.history.map((h) => h.loss));
  });
});

describe('Trainer: telemetry', () => {
  it('emits run_start, steps, eval, sample, checkpoint and run_end in order; JSONL and PNG are written', async () => {
    const dir = join(root, 'telemetry');
    const container = createRunContainer();
    container.register(TOKENS.TelemetrySink, 'jsonl', { useValue: new JsonlSink({ path: join(dir, 'events.jsonl') }) });
    container.register(TOKENS.TelemetrySink, 'loss-curve', { useValue: new LossCurveSink({ path: join(dir, 'loss.png') }) });
    let clock = 0;
    const telemetry = startTelemetry(container, { runId: 'tiny', now: () => (clock += 10) });
    const { trainer } = tinyTrainer({
      maxSteps: 4,
      telemetry,
      checkpoint: { dir: join(dir, 'ckpt'), everySteps: 2 },
      validation: { everySteps: 3, run: ({ step, final }) => ({ metrics: { val: step }, ...(final ? { samplePaths: [join(dir, `grid-${step}.png`)] } : {}) }) },
    });
    const events = collect(trainer as Trainer<unknown>);
    await trainer.fit();
    const order = events.map((e) => (e.type === 'step' || e.type === 'checkpoint' || e.type === 'eval' || e.type === 'sample' ? `${e.type}:${e.step}` : e.type));
    // Step 4 is a checkpoint step: its checkpoint, then the final validation, and no second save.
    expect(order).toEqual(['run_start', 'step:1', 'step:2', 'checkpoint:2', 'step:3', 'eval:3', 'step:4', 'checkpoint:4', 'eval:4', 'sample:4', 'run_end']);
    expect(events[0]).toMatchObject({ type: 'run_start', runId: 'tiny', totalSteps: 4, config: { task: 'tiny' }, parameterCounts: { total: 49, trainable: 49 } });
    expect(events.find((e) => e.type === 'step')).toMatchObject({ stepMs: 10, batchSize: 8, totalSteps: 4 });
    const lines = (await readFile(join(dir, 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as TrainingEvent);
    expect(lines.map((e) => e.type)).toEqual(events.map((e) => e.type));
    const meta = await sharp(join(dir, 'loss.png')).metadata();
    expect(meta.format).toBe('png');
    expect(meta.width).toBeGreaterThan(100);
  });
});

describe('Trainer: telemetry across a resume', () => {
  it('the JSONL log holds each step once and the loss curve covers the whole run', async () => {
    const dir = join(root, 'resumed-log');
    const log = join(dir, 'events.jsonl');
    const sinks = () => {
      const container = createRunContainer();
      const curve = new LossCurveSink({ path: join(dir, 'loss.png'), history: log });
      container.register(TOKENS.TelemetrySink, 'jsonl', { useValue: new JsonlSink({ path: log }) });
      container.register(TOKENS.TelemetrySink, 'loss-curve', { useValue: curve });
      return { telemetry: startTelemetry(container, { runId: 'r' }), curve };
    };
    // The first process logs steps 1-3 but its last checkpoint is step 2 (as if killed after step 3).
    const a = sinks();
    const first = await tinyTrainer({ maxSteps: 3, telemetry: a.telemetry, checkpoint: { dir: join(dir, 'ckpt'), everySteps: 2, atEnd: false } }).trainer.fit();
    await appendFile(log, '{"type":"step","step":4,"lo'); // the torn last write of a killed process
    const b = sinks();
    const second = await tinyTrainer({ maxSteps: 5, telemetry: b.telemetry, checkpoint: { dir: join(dir, 'ckpt'), everySteps: 2 }, resume: 'latest' }).trainer.fit();
    const lines = (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as TrainingEvent);
    const steps = lines.filter((e) => e.type === 'step') as { step: number; loss: number }[];
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3, 4, 5]);
    expect(steps.map((e) => e.loss)).toEqual([...first.history.slice(0, 2), ...second.history].map((h) => h.loss));
    const starts = lines.filter((e) => e.type === 'run_start');
    expect(starts[1]).toMatchObject({ resumedFrom: { step: 2, path: join(dir, 'ckpt', 'step-00000002') } });
    expect(lines.filter((e) => e.type === 'run_end').map((e) => (e as { steps: number }).steps)).toEqual([3, 5]);
    expect(b.curve.points.map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
    expect(b.curve.points[0]!.smoothed).toBe(first.history[0]!.loss); // bias-corrected EMA of one value
  });
});

describe('Trainer: the step', () => {
  it('accumulating 2 micro-batches of 2 equals one batch of 4 (same data, no randomness)', async () => {
    const run = async (batchSize: number, accumulation: number) => {
      const model = new TinyNet(1, 0); // no dropout: both runs compute exactly the same function
      const optimizer = new SGD(model.trainableParameters(), { lr: 0.1 });
      const trainer = new Trainer({
        models: model, optimizer, data: new DataLoader(tinyDataset(), { batchSize, shuffle: false }),
        trainingStep: (b: { x: Tensor; y: Tensor }) => mseLoss(model.forward(b.x), b.y),
        maxSteps: 3, gradientAccumulationSteps: accumulation,
      });
      const r = await trainer.fit();
      return { losses: r.history.map((h) => h.loss), weights: weightsOf(model) };
    };
    const a = await run(4, 1);
    const b = await run(2, 2);
    a.losses.forEach((l, i) => expect(b.losses[i]).toBeCloseTo(l, 6));
    for (const [k, w] of Object.entries(a.weights)) w.forEach((v, i) => expect(b.weights[k]![i]).toBeCloseTo(v, 6));
  });

  it('runs every step inside the backend tidy() and keeps parameters and moments alive', async () => {
    class ScopedBackend extends ReferenceBackend {
      scopes = 0;
      kept = 0;
      tidy<T>(fn: () => T): T {
        this.scopes += 1;
        return fn();
      }
      keep(): void {
        this.kept += 1;
      }
    }
    const backend = new ScopedBackend();
    const previous = getDefaultBackend();
    setDefaultBackend(backend);
    try {
      const { trainer, model } = tinyTrainer({ maxSteps: 3 });
      expect(model.fc1.weight.backend).toBe(backend);
      await trainer.fit();
      expect(backend.scopes).toBe(3);
      expect(backend.kept).toBeGreaterThanOrEqual(3 * 4 * 2); // 4 parameters, 2 moments each, every step
    } finally {
      setDefaultBackend(previous);
    }
  });
});
