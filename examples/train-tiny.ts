import {
  AdamW, DataLoader, Generator, LRScheduler, Linear, Module, SiLU, type Tensor, Trainer, buildRecipe, mseLoss, noGrad, startTelemetry, tensor,
} from '../core/index.ts';

class Net extends Module {
  readonly fc1 = this.registerModule('fc1', new Linear(2, 32, { seed: 1 }));
  readonly act = this.registerModule('act', new SiLU());
  readonly fc2 = this.registerModule('fc2', new Linear(32, 1, { seed: 2 }));
  forward(x: Tensor): Tensor {
    return this.fc2.forward(this.act.forward(this.fc1.forward(x)));
  }
}

// A dataset is `length` plus `get(i)` (sync or async): here 256 points drawn once, host side.
function points(n: number, seed: number) {
  const g = new Generator(seed);
  const xs = Array.from({ length: n }, () => [g.uniform() * 6 - 3, g.uniform() * 6 - 3]);
  return { length: n, get: (i: number) => ({ x: tensor(xs[i]!), y: tensor([Math.sin(xs[i]![0]!) + Math.cos(xs[i]![1]!)]) }) };
}

const at = process.argv.indexOf('--steps');
const steps = at > 0 ? Number(process.argv[at + 1]) : 400;
const run = 'runs/train-tiny';
const model = new Net();
const optimizer = new AdamW(model.trainableParameters(), { lr: 1e-2, weightDecay: 0 });
const lrScheduler = new LRScheduler(optimizer, 'cosine', { warmupSteps: 20, totalSteps: 400 });
const data = new DataLoader(points(256, 0), { batchSize: 16, seed: 0 });   // { x: [16, 2], y: [16, 1] }
const val = await new DataLoader(points(64, 1), { batchSize: 64, shuffle: false }).load({ epoch: 0, batch: 0 });

const container = await buildRecipe({
  plugins: [
    { use: 'telemetry/progress' },
    { use: 'telemetry/jsonl', options: { path: `${run}/events.jsonl` } },
    { use: 'telemetry/loss-curve', options: { path: `${run}/loss.png`, history: `${run}/events.jsonl` } },
  ],
});
const trainer = new Trainer({
  models: model,
  optimizer,
  lrScheduler,
  data,
  trainingStep: (batch) => mseLoss(model.forward(batch.x), batch.y),
  maxSteps: steps,
  gradientAccumulationSteps: 1,
  maxGradNorm: 1,
  seed: 0,
  checkpoint: { dir: `${run}/checkpoints`, everySteps: 50, keepLast: 3 },
  resume: 'latest',
  validation: {
    everySteps: 100,
    run: () => ({ metrics: { val_mse: noGrad(() => mseLoss(model.forward(val.batch.x), val.batch.y).item()) } }),
  },
  telemetry: startTelemetry(container, { runId: 'train-tiny' }),
  config: { task: 'sin+cos', hidden: 32, lr: 1e-2 },
});
process.once('SIGINT', () => trainer.stop());
const result = await trainer.fit();
console.log(`step ${result.step}${result.resumedFrom ? ` (resumed from ${result.resumedFrom})` : ''}, last loss ${result.history.at(-1)?.loss.toFixed(4)}`);
