/**
 * `overlay`: the segmentation is the base layer, the lighting map the blend layer:
 * base < 0.5 ? 2 * base * light : 1 - 2 * (1 - base)(1 - light). Keeps the segmentation's hues
 * and pushes them darker or lighter with the shading.
 */
import type { ConditionBlender, Image } from '../../core/plugins/tokens.ts';
import { blendRgb, checkOptionNames } from './pixels.ts';

export class OverlayBlender implements ConditionBlender {
  readonly name = 'overlay';
  blend(lighting: Image, segmentation: Image, options?: Readonly<Record<string, unknown>>): Image {
    checkOptionNames('overlay blender', options, []);
    return blendRgb('overlay blender', lighting, segmentation, (l, s) => (s < 0.5 ? 2 * s * l : 1 - 2 * (1 - s) * (1 - l)));
  }
}
