/**
 * `soft-light`: the W3C compositing soft light, segmentation as backdrop, lighting as source:
 * a gentler overlay (light 0.5 leaves the colour as it is).
 */
import type { ConditionBlender, Image } from '../../core/plugins/tokens.ts';
import { blendRgb, checkOptionNames } from './pixels.ts';

export function softLight(backdrop: number, source: number): number {
  if (source <= 0.5) return backdrop - (1 - 2 * source) * backdrop * (1 - backdrop);
  const d = backdrop <= 0.25 ? ((16 * backdrop - 12) * backdrop + 4) * backdrop : Math.sqrt(backdrop);
  return backdrop + (2 * source - 1) * (d - backdrop);
}

export class SoftLightBlender implements ConditionBlender {
  readonly name = 'soft-light';
  blend(lighting: Image, segmentation: Image, options?: Readonly<Record<string, unknown>>): Image {
    checkOptionNames('soft-light blender', options, []);
    return blendRgb('soft-light blender', lighting, segmentation, (l, s) => softLight(s, l));
  }
}
