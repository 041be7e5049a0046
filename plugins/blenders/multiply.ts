/** `multiply`: lighting * segmentation, channel by channel (colours darkened by the shading). */
import type { ConditionBlender, Image } from '../../core/plugins/tokens.ts';
import { blendRgb, checkOptionNames } from './pixels.ts';

export class MultiplyBlender implements ConditionBlender {
  readonly name = 'multiply';
  blend(lighting: Image, segmentation: Image, options?: Readonly<Record<string, unknown>>): Image {
    checkOptionNames('multiply blender', options, []);
    return blendRgb('multiply blender', lighting, segmentation, (l, s) => l * s);
  }
}
