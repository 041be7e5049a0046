/**
 * Preview grids as PNGs with a header row naming the columns: `blendPreviewPng` lays out
 * lighting | segmentation | each blend for some samples (generated, or read from a dataset
 * folder); `sampleGridPng` lays out every map of some generated samples (target, lighting,
 * segmentation, depth, normal, edges, then blends).
 */
import type { ConditionBlender, Image } from '../../core/plugins/tokens.ts';
import { DentalDataset } from './dataset.ts';
import { labelledGridPng } from './image-io.ts';
import { generateSample } from './sample.ts';

export interface PreviewSource {
  /** Render samples (seed, indices)... */
  seed: number;
  indices: number[];
  width: number;
  height: number;
  /** ...or read lighting/segmentation from this dataset folder instead. */
  from?: string;
}

async function pairs(src: PreviewSource, blender: ConditionBlender): Promise<Array<{ lighting: Image; segmentation: Image }>> {
  if (!src.from) {
    return src.indices.map((i) => {
      const s = generateSample(i, { seed: src.seed, width: src.width, height: src.height, blender });
      return { lighting: s.maps.lighting, segmentation: s.maps.segmentation };
    });
  }
  const ds = await DentalDataset.open(src.from, { width: src.width, height: src.height, blender });
  const out = [];
  for (const i of src.indices) {
    if (i >= ds.length) break;
    const s = await ds.get(i);
    if (!s.lighting || !s.segmentation) throw new Error(`blend-preview: dataset ${src.from} has no lighting/ and segmentation/ maps to blend`);
    out.push({ lighting: s.lighting, segmentation: s.segmentation });
  }
  return out;
}

/** Rows of lighting | segmentation | blend(lighting, segmentation) for each blender. */
export async function blendPreviewPng(src: PreviewSource, blenders: ConditionBlender[]): Promise<Buffer> {
  const rows = (await pairs(src, blenders[0]!)).map(({ lighting, segmentation }) => [
    lighting,
    segmentation,
    ...blenders.map((b) => b.blend(lighting, segmentation)),
  ]);
  if (rows.length === 0) throw new Error('blend-preview: no samples to show');
  return labelledGridPng(rows, ['lighting', 'segmentation', ...blenders.map((b) => b.name)]);
}

/** Rows of target | lighting | segmentation | depth | normal | edges | blends, one generated sample a row. */
export async function sampleGridPng(seed: number, indices: number[], width: number, height: number, blenders: ConditionBlender[]): Promise<Buffer> {
  const rows = indices.map((i) => {
    const s = generateSample(i, { seed, width, height, blender: blenders[0]! });
    const m = s.maps;
    return [m.target, m.lighting, m.segmentation, m.depth, m.normal, m.edges, ...blenders.map((b) => b.blend(m.lighting, m.segmentation))];
  });
  return labelledGridPng(rows, ['target', 'lighting', 'segmentation', 'depth', 'normal', 'edges', ...blenders.map((b) => b.name)]);
}
