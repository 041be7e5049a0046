/**
 * The trainer on the gpu.js backend (cpu mode: it runs everywhere): every step's
 * intermediates and the collated batches are released, so the live storage count stays flat,
 * and the losses match the reference backend's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { DataLoader, getDefaultBackend, manualSeed, setDefaultBackend } from '../../core/index.ts';
import { GpuJsBackend } from '../../core/backends/gpujs/index.ts';
import { tinyDataset, tinyTrainer } from './fixtures/tiny-run.ts';

const gpu = new GpuJsBackend({ mode: 'cpu', strict: true });
afterAll(() => gpu.destroy());

async function run(): Promise<{ losses: number[]; live: number[] }> {
  const live: number[] = [];
  const source = tinyDataset();
  const samples = await Promise.all(Array.from({ length: source.length }, (_, i) => source.get(i))); // a preloaded dataset
  manualSeed(0);
  const { trainer } = tinyTrainer({
    data: new DataLoader({ length: samples.length, get: (i: number) => samples[i]! }, { batchSize: 4, seed: 3 }),
    maxSteps: 5,
    hooks: { onStepEnd: () => void live.push(getDefaultBackend() === gpu ? gpu.stats.liveStorages : 0) },
  });
  const r = await trainer.fit();
  return { losses: r.history.map((h) => h.loss), live };
}

describe('Trainer on gpu.js', () => {
  it('releases every step\'s intermediates and batches (flat live storages) and matches the reference backend', async () => {
    const reference = await run();
    const previous = getDefaultBackend();
    setDefaultBackend(gpu);
    let onGpu: { losses: number[]; live: number[] };
    try {
      onGpu = await run();
    } finally {
      setDefaultBackend(previous);
    }
    expect(gpu.name).toBe('gpujs:cpu');
    // Step 1 creates the Adam moments; from then on nothing accumulates.
    expect(new Set(onGpu.live.slice(1)).size, onGpu.live.join(', ')).toBe(1);
    onGpu.losses.forEach((l, i) => expect(l).toBeCloseTo(reference.losses[i]!, 4));
  });
});
