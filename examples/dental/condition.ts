/**
 * Where a sample's condition image comes from, one rule for the generator, the procedural
 * dataset and the loader: a blender over the sample's lighting and segmentation maps, or an
 * extractor over its target render (canny, soft edges, a user's own), never both. A source
 * that a dataset cannot apply (a blender on data without lighting/segmentation maps) is an
 * error, not silently replaced by whatever the data has.
 */
import type { ConditionBlender, ConditionExtractor, Image } from '../../core/plugins/tokens.ts';

export interface ConditionSource {
  /** Blends lighting + segmentation into the condition. */
  blender?: ConditionBlender;
  blenderOptions?: Readonly<Record<string, unknown>>;
  /** Derives the condition from the target render (values in [0, 1]). */
  extractor?: ConditionExtractor;
  extractorOptions?: Readonly<Record<string, unknown>>;
}

/** Refuses a blender and an extractor together (which one would win?). */
export function checkConditionSource(o: ConditionSource, where: string): void {
  if (o.blender && o.extractor) {
    throw new Error(`${where}: both a blender ("${o.blender.name}") and an extractor ("${o.extractor.name}") are set for the condition; pick one`);
  }
}

/** Describes the source for logs: `blender alpha`, `extractor canny`, or null (none configured). */
export function conditionLabel(o: ConditionSource): string | null {
  return o.blender ? `blender ${o.blender.name}` : o.extractor ? `extractor ${o.extractor.name}` : null;
}

/**
 * The condition from the configured source, or null when none is configured (the caller then
 * uses the data's own condition, if it has one). `target` is in [0, 1].
 */
export function makeCondition(o: ConditionSource, maps: { target: Image; lighting?: Image; segmentation?: Image }, where: string): Image | null {
  checkConditionSource(o, where);
  if (o.extractor) return o.extractor.extract(maps.target, o.extractorOptions);
  if (!o.blender) return null;
  if (!maps.lighting || !maps.segmentation) {
    throw new Error(`${where}: blender "${o.blender.name}" needs lighting and segmentation maps, and this sample has no ${!maps.lighting ? 'lighting' : 'segmentation'} map`);
  }
  return o.blender.blend(maps.lighting, maps.segmentation, o.blenderOptions);
}
