/** The tooth-weighted loss's weight map: the segmentation's tooth mask, area-pooled to the latent grid. */
import { describe, expect, it } from 'vitest';
import { setDefaultBackend } from '../../core/backends/default.ts';
import { ReferenceBackend } from '../../core/backends/reference.ts';
import { tensor } from '../../core/ops/creation.ts';
import { GUM_COLOR, toothColor } from '../../examples/dental/palette.ts';
import { poolMask, toothLossWeights } from '../../examples/dental/recipe/tooth-loss.ts';

const backend = new ReferenceBackend();
setDefaultBackend(backend);

describe('tooth-weighted loss', () => {
  it('poolMask: the tooth fraction of each cell', () => {
    // 4x4 mask, 2x2 grid: top-left cell full, top-right one pixel of four, bottom empty
    const m = Uint8Array.from([1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...poolMask(m, 4, 4, 2)]).toEqual([1, 0.25, 0, 0]);
    expect(() => poolMask(m, 4, 4, 3)).toThrow(/does not divide into a 3x3 grid/);
  });

  it('toothLossWeights: 1 + weight * fraction per latent pixel, from palette colours (gum and background count 1)', () => {
    const t = toothColor(36), g = GUM_COLOR;
    // 1 image 4x4: row 0 tooth, row 1 gum, rows 2-3 background
    const v = new Float32Array(3 * 16);
    for (let c = 0; c < 3; c++) for (let p = 0; p < 16; p++) v[c * 16 + p] = p < 4 ? t[c]! / 255 : p < 8 ? g[c]! / 255 : 0;
    const w = toothLossWeights(tensor(v, [1, 3, 4, 4]), 2, 3);
    expect(w.shape).toEqual([1, 1, 2, 2]);
    expect([...w.toArray()]).toEqual([2.5, 2.5, 1, 1]);
    expect(w.backend).toBe(backend);
    expect(() => toothLossWeights(tensor(v, [1, 3, 4, 4]), 2, -1)).toThrow(/expected a finite number >= 0, got -1/);
  });
});
