/**
 * The diffusion training step driven by the Trainer (the dental recipe's composition, tiny):
 * a ctrLoRA base ControlNet trained on the tiny world, 2 steps + resume + 2 steps equal 4
 * steps, loss for loss and weight for weight, the step's every draw coming from ctx.generator.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AdamW, DataLoader, type Tensor, Trainer, manualSeed } from '../../core/index.ts';
import { diffusionTrainingStep } from '../../plugins/diffusion/index.ts';
import { syntheticBatch, tinyWorld } from '../diffusion/tiny-world.ts';
import { weightsOf } from './fixtures/tiny-run.ts';

const root = await mkdtemp(join(tmpdir(), 'trainer-diffusion-'));
afterAll(() => rm(root, { recursive: true, force: true }));

interface Sample { image: Tensor; condition: Tensor; prompt: string }

function run(maxSteps: number, dir: string, resume: string | null) {
  manualSeed(0);
  const world = tinyWorld();
  const { images, conditions, prompts } = syntheticBatch(4);
  const samples: Sample[] = prompts.map((prompt, i) => ({ image: images.select(0, i).contiguous(), condition: conditions.select(0, i).contiguous(), prompt }));
  const data = new DataLoader({ length: samples.length, get: (i: number) => samples[i]! }, { batchSize: 2, seed: 5 });
  const optimizer = new AdamW(world.controlnet.trainableParameters(), { lr: 1e-3 });
  const trainer = new Trainer({
    models: { controlnet: world.controlnet },
    optimizer,
    data,
    trainingStep: (b, ctx) => diffusionTrainingStep(world, { images: b.image, conditions: b.condition, prompts: b.prompt }, { generator: ctx.generator, promptDropout: 0.5, noiseOffset: 0.05 }).loss,
    maxSteps,
    maxGradNorm: 1,
    seed: 3,
    checkpoint: { dir, everySteps: 2 },
    resume,
    config: { world: 'tiny' },
  });
  return { trainer, controlnet: world.controlnet };
}

describe('Trainer + diffusionTrainingStep', () => {
  it('resumes a ControlNet run exactly', async () => {
    const full = run(4, join(root, 'full'), null);
    const a = await full.trainer.fit();
    const first = await run(2, join(root, 'split'), null).trainer.fit();
    const second = run(4, join(root, 'split'), 'latest');
    const b = await second.trainer.fit();
    expect(b.resumedFrom).toBe(join(root, 'split', 'step-00000002'));
    expect([...first.history, ...b.history].map((h) => h.loss)).toEqual(a.history.map((h) => h.loss));
    expect(a.history.every((h) => Number.isFinite(h.loss) && !h.skipped)).toBe(true);
    expect(weightsOf(second.controlnet)).toEqual(weightsOf(full.controlnet));
  });
});
