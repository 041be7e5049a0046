/**
 * The generator as a Dataset plugin: sample i is rendered in memory when asked for, from
 * (seed, i), with the loader's conventions (target in [-1, 1], condition from the blender in
 * [0, 1]), so a recipe can train on procedural data without writing files.
 */
import type { Dataset, Image } from '../../core/plugins/tokens.ts';
import { type ConditionSource, checkConditionSource } from './condition.ts';
import type { DentalSample } from './dataset.ts';
import { generateSample } from './sample.ts';

/** The condition comes from the blender (over lighting + segmentation) or the extractor (over the target); one is required. */
export interface ProceduralDentalOptions extends ConditionSource {
  count: number;
  seed: number;
  width: number;
  height: number;
}

function toSigned(img: Image): Image {
  return { ...img, data: img.data.map((v) => v * 2 - 1) };
}

export class ProceduralDentalDataset implements Dataset<DentalSample> {
  readonly name = 'dental-procedural';
  constructor(private readonly o: ProceduralDentalOptions) {
    if (!Number.isInteger(o.count) || o.count < 1) throw new RangeError(`ProceduralDentalDataset: count must be an integer >= 1, got ${o.count}`);
    checkConditionSource(o, 'ProceduralDentalDataset');
    if (!o.blender && !o.extractor) throw new Error('ProceduralDentalDataset: set a blender or an extractor to make the condition image');
  }

  get length(): number {
    return this.o.count;
  }

  async get(index: number): Promise<DentalSample> {
    if (!Number.isInteger(index) || index < 0 || index >= this.o.count) {
      throw new RangeError(`ProceduralDentalDataset.get: index ${index} out of range [0, ${this.o.count})`);
    }
    const s = generateSample(index, this.o);
    return {
      name: `target/${s.fileName}`,
      prompt: s.prompt,
      jaw: s.jaw,
      view: s.view,
      target: toSigned(s.maps.target),
      condition: s.maps.source,
      lighting: s.maps.lighting,
      segmentation: s.maps.segmentation,
      flipped: false,
    };
  }
}
