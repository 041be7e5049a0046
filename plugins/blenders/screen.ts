/** `screen`: 1 - (1 - lighting)(1 - segmentation): the dual of multiply (it only lightens). */
import type { ConditionBlender, Image } from '../../core/plugins/tokens.ts';
import { blendRgb, checkOptionNames } from './pixels.ts';

export class ScreenBlender implements ConditionBlender {
  readonly name = 'screen';
  blend(lighting: Image, segmentation: Image, options?: Readonly<Record<string, unknown>>): Image {
    checkOptionNames('screen blender', options, []);
    return blendRgb('screen blender', lighting, segmentation, (l, s) => 1 - (1 - l) * (1 - s));
  }
}
