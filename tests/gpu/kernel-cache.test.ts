/**
 * The default kernel cache holds every kernel of a training step: the second step of a tiny
 * ControlNet training compiles nothing (with the old default of 256 it recompiled them all).
 */
import { describe, expect, it } from 'vitest';
import { GpuJsBackend } from '../../core/backends/gpujs/index.ts';
import { AdamW, Generator, tidy, withBackend } from '../../core/index.ts';
import { diffusionTrainingStep } from '../../plugins/diffusion/index.ts';
import { syntheticBatch, tinyWorld } from '../diffusion/tiny-world.ts';

describe('gpu.js kernel cache', () => {
  it('keeps every kernel of a training step by default: step 2 compiles none', () => {
    const b = new GpuJsBackend({ mode: 'cpu', strict: true });
    try {
      withBackend(b, () => {
        const world = tinyWorld();
        const models = { ...world };
        const batch = syntheticBatch(2);
        const opt = new AdamW(world.controlnet.trainableParameters(), { lr: 1e-4 });
        const g = new Generator(0);
        const step = () => tidy(() => {
          const { loss } = diffusionTrainingStep(models, batch, { generator: g });
          opt.zeroGrad();
          loss.backward();
          opt.step();
          return loss.item();
        }, b);
        step();
        const first = b.stats.compiles;
        expect(first).toBeGreaterThan(256); // more than the old default held
        expect(Number.isFinite(step())).toBe(true);
        expect(b.stats.compiles).toBe(first);
        expect(b.stats.cachedKernels).toBe(first);
        expect(b.mode).toBe('cpu');
      });
    } finally {
      b.destroy();
    }
  });
});
