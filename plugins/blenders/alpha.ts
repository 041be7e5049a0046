/** `alpha`: (1 - weight) * lighting + weight * segmentation. Option weight in [0, 1], default 0.5. */
import type { ConditionBlender, Image } from '../../core/plugins/tokens.ts';
import { blendRgb, checkOptionNames, numberOption } from './pixels.ts';

export class AlphaBlender implements ConditionBlender {
  readonly name = 'alpha';
  blend(lighting: Image, segmentation: Image, options?: Readonly<Record<string, unknown>>): Image {
    checkOptionNames('alpha blender', options, ['weight']);
    const w = numberOption('alpha blender', options, 'weight', 0.5, 0, 1);
    return blendRgb('alpha blender', lighting, segmentation, (l, s) => (1 - w) * l + w * s);
  }
}
