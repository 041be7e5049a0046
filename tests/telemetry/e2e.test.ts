import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AdamW, Conv2d, type Dataset, LRScheduler, Module, ProgressSink, SiLU, TOKENS, type Tensor, type TrainingEvent,
  buildRecipe, clipGradNorm, mseLoss, noGrad, saveModule, startTelemetry, tensor,
} from '../../core/index.ts';
import type { ToySample } from '../fixtures/toy-task/plugin.ts';

class TinyConvNet extends Module {
  conv1: Conv2d;
  act: SiLU;
  conv2: Conv2d;
  constructor() {
    super();
    this.conv1 = this.registerModule('conv1', new Conv2d(1, 4, 3, { padding: 1, seed: 1 }));
    this.act = this.registerModule('act', new SiLU());
    this.conv2 = this.registerModule('conv2', new Conv2d(4, 1, 3, { padding: 1, seed: 2 }));
  }
  forward(x: Tensor): Tensor {
    return this.conv2.forward(this.act.forward(this.conv1.forward(x)));
  }
}

const dir = await mkdtemp(join(tmpdir(), 'telemetry-e2e-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function batch(ds: Dataset<ToySample>, start: number, size: number): Promise<{ x: Tensor; y: Tensor }> {
  const samples = await Promise.all(Array.from({ length: size }, (_, i) => ds.get((start + i) % ds.length)));
  const s = Math.sqrt(samples[0]!.input.length);
  const cat = (k: 'input' | 'target') => {
    const out = new Float32Array(size * s * s);
    samples.forEach((smp, i) => out.set(smp[k], i * s * s));
    return tensor(out, [size, 1, s, s]);
  };
  return { x: cat('input'), y: cat('target') };
}

describe('telemetry end to end', () => {
  it('a tiny conv net learns a toy task through the container; stream, JSONL and PNG are right', async () => {
    const jsonl = join(dir, 'run', 'events.jsonl');
    const png = join(dir, 'run', 'loss.png');
    const progressOut = new PassThrough();
    const config = {
      plugins: [
        { module: '../fixtures/toy-task/plugin.ts', options: { length: 32, size: 8, seed: 3 } },
        { use: 'telemetry/jsonl', options: { path: jsonl } },
        { use: 'telemetry/loss-curve', options: { path: png } },
        { use: 'telemetry/progress', options: { stream: progressOut } },
      ],
      steps: 40,
      batchSize: 4,
      lr: 0.03,
    };
    const container = await buildRecipe(config, { baseDir: import.meta.dirname });
    const dataset = container.resolve(TOKENS.Dataset) as Dataset<ToySample>;
    const telemetry = startTelemetry(container, { runId: 'toy' });
    expect(telemetry.sinks.map((s) => s.name)).toEqual(['jsonl', 'loss-curve', 'progress']);
    const seen: TrainingEvent[] = [];
    telemetry.bus.events$.subscribe((e) => seen.push(e));

    const model = new TinyConvNet();
    const opt = new AdamW(model.parameters(), { lr: config.lr, weightDecay: 0 });
    const sched = new LRScheduler(opt, 'constant_with_warmup', { warmupSteps: 3 });
    telemetry.bus.runStart({ steps: config.steps, batchSize: config.batchSize, lr: config.lr }, model.numParameters(), config.steps);
    for (let step = 1; step <= config.steps; step++) {
      const { x, y } = await batch(dataset, step * config.batchSize, config.batchSize);
      opt.zeroGrad();
      const loss = mseLoss(model.forward(x), y);
      loss.backward();
      const gradNorm = clipGradNorm(model.parameters(), 1.0);
      const lr = sched.lr;
      opt.step();
      sched.step();
      telemetry.bus.step({ step, loss: loss.item(), lr, gradNorm, batchSize: config.batchSize, totalSteps: config.steps });
    }
    const { x, y } = await batch(dataset, 0, 8);
    telemetry.bus.emit({ type: 'eval', step: config.steps, metrics: { mse: noGrad(() => mseLoss(model.forward(x), y).item()) } });
    // a sample image: the model's output for the first eval input, written as a PNG
    const pred = noGrad(() => model.forward(x.slice(0, 0, 1)).clamp(0, 1)).toArray();
    const samplePath = join(dir, 'run', 'sample-40.png');
    await sharp(Buffer.from(Uint8Array.from(pred, (v) => Math.round(v * 255))), { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(samplePath);
    telemetry.bus.emit({ type: 'sample', step: config.steps, paths: [samplePath] });
    const ckpt = join(dir, 'run', 'model.safetensors');
    await saveModule(ckpt, model);
    telemetry.bus.emit({ type: 'checkpoint', step: config.steps, path: ckpt });
    await telemetry.close();

    // the stream: run_start, 40 steps, eval, sample, checkpoint, run_end
    expect(seen.map((e) => e.type)).toEqual(['run_start', ...Array(config.steps).fill('step'), 'eval', 'sample', 'checkpoint', 'run_end']);
    expect((await sharp(samplePath).metadata()).width).toBe(8);
    const steps = seen.filter((e): e is Extract<TrainingEvent, { type: 'step' }> => e.type === 'step');
    expect(steps.map((s) => s.step)).toEqual(Array.from({ length: config.steps }, (_, i) => i + 1));
    expect(steps[0]!.lr).toBe(0);
    expect(steps[5]!.lr).toBeCloseTo(config.lr);
    // the loss falls
    const first = steps.slice(0, 5).reduce((a, s) => a + s.loss, 0) / 5;
    const last = steps.slice(-5).reduce((a, s) => a + s.loss, 0) / 5;
    expect(last).toBeLessThan(first * 0.5);
    const evalEvent = seen.find((e) => e.type === 'eval')!;
    expect((evalEvent as Extract<TrainingEvent, { type: 'eval' }>).metrics['mse']).toBeLessThan(first * 0.5);
    // the JSONL log has every event, in order
    const lines = (await readFile(jsonl, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as TrainingEvent);
    expect(lines.map((e) => e.type)).toEqual(seen.map((e) => e.type));
    expect(lines[0]).toMatchObject({ type: 'run_start', runId: 'toy', totalSteps: config.steps, parameterCounts: model.numParameters() });
    expect(lines.at(-1)).toMatchObject({ type: 'run_end', status: 'completed', steps: config.steps });
    // the loss-curve PNG exists and is a real image
    const meta = await sharp(png).metadata();
    expect(meta).toMatchObject({ format: 'png', width: 640, height: 360 });
    expect((await stat(png)).size).toBeGreaterThan(1000);
    // the progress bar tracked the smoothed loss up to the last step
    const progress = telemetry.sinks.find((s) => s.name === 'progress') as ProgressSink;
    expect(progress.lastPayload).toMatchObject({ step: config.steps, total: config.steps });
    expect(Number(progress.lastPayload!.loss)).toBeLessThan(first);
  });
});
