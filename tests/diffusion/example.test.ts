import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runExample } from '../../examples/diffusion/train-and-sample.ts';

const dir = mkdtempSync(join(tmpdir(), 'diffusion-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('examples/diffusion/train-and-sample.ts', () => {
  it('trains a few steps and writes the condition | sample | target grid', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    try {
      const { first, last, grid } = await runExample({ steps: 2, samplingSteps: 2, side: 8, outDir: dir });
      expect(Number.isFinite(first) && Number.isFinite(last)).toBe(true);
      expect(log.mock.calls[0]![0]).toMatch(/^trainable: lora 15,872 \| zeroConv 11,488 \| transformerNorm 768/);
      const meta = await sharp(grid).metadata();
      expect([meta.width, meta.height]).toEqual([3 * (8 * 4 + 2) + 2, 4 * (8 * 4 + 2) + 2]);
    } finally {
      log.mockRestore();
    }
  });
});
