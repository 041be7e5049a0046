/**
 * Everything about one generated sample, in memory: the scene drawn from (seed, index), its
 * rendered maps, the edges (canny on the target), the blended condition (`source`), the file
 * name and the prompt. Used by the dataset writer, the procedural Dataset and the previews.
 */
import type { Image } from '../../core/plugins/tokens.ts';
import { CannyExtractor } from '../../plugins/conditions/canny.ts';
import { type ConditionSource, makeCondition } from './condition.ts';
import { promptFor, sampleFileName } from './prompt.ts';
import { renderScene } from './render.ts';
import { sampleScene, type Jaw, type View } from './scene.ts';

/** The maps the generator writes, each into its own folder of the same name. */
export const MAP_NAMES = ['target', 'lighting', 'segmentation', 'depth', 'normal', 'edges', 'source'] as const;
export type MapName = (typeof MAP_NAMES)[number];

export interface GeneratedSample {
  index: number;
  jaw: Jaw;
  view: View;
  fileName: string;
  prompt: string;
  maps: Record<MapName, Image>;
}

/** `source` (the condition) comes from the blender or the extractor of the ConditionSource; one is required. */
export interface SampleOptions extends ConditionSource {
  seed: number;
  width: number;
  height: number;
}

const canny = new CannyExtractor();

export function generateSample(index: number, o: SampleOptions): GeneratedSample {
  const spec = sampleScene(o.seed, index);
  const r = renderScene(spec, o.width, o.height);
  const edges = canny.extract(r.target, { low: 60, high: 140, sigma: 0.6 });
  const source = makeCondition(o, { target: r.target, lighting: r.lighting, segmentation: r.segmentation }, `sample ${index}`);
  if (!source) throw new Error('generateSample: no condition source: set a blender or an extractor');
  return {
    index,
    jaw: spec.jaw,
    view: spec.view,
    fileName: sampleFileName(spec.jaw, spec.view, index),
    prompt: promptFor(spec.jaw, spec.view),
    maps: { target: r.target, lighting: r.lighting, segmentation: r.segmentation, depth: r.depth, normal: r.normal, edges, source },
  };
}
