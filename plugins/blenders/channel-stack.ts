/**
 * `channel-stack`: lighting and segmentation side by side in separate channels instead of
 * mixed. mode "rgb" (default, 3 channels, fits a 3-channel ControlNet): R = lighting luminance,
 * G = segmentation luminance (which part), B = 1 on the segmentation's foreground (not
 * `background`). mode "rgba" (4 channels): lighting luminance then the segmentation's RGB.
 */
import type { ConditionBlender, Image } from '../../core/plugins/tokens.ts';
import { channel, checkOptionNames, checkPair, clamp01, colorOption, luminanceAt, makeImage } from './pixels.ts';
import { DEFAULT_BACKGROUND } from './mask-composite.ts';

export class ChannelStackBlender implements ConditionBlender {
  readonly name = 'channel-stack';
  blend(lighting: Image, segmentation: Image, options?: Readonly<Record<string, unknown>>): Image {
    const op = 'channel-stack blender';
    checkPair(op, lighting, segmentation);
    checkOptionNames(op, options, ['mode', 'background']);
    const mode = options?.mode ?? 'rgb';
    if (mode !== 'rgb' && mode !== 'rgba') throw new RangeError(`${op}: option "mode" must be "rgb" or "rgba", got ${JSON.stringify(mode)}`);
    const bg = colorOption(op, options, 'background', DEFAULT_BACKGROUND).map((v) => v / 255);
    const n = lighting.width * lighting.height;
    if (mode === 'rgba') {
      const out = makeImage(lighting.width, lighting.height, 4);
      for (let p = 0; p < n; p++) {
        out.data[p * 4] = clamp01(luminanceAt(lighting, p));
        for (let c = 0; c < 3; c++) out.data[p * 4 + 1 + c] = clamp01(channel(segmentation, p, c));
      }
      return out;
    }
    const out = makeImage(lighting.width, lighting.height, 3);
    for (let p = 0; p < n; p++) {
      let foreground = 0;
      for (let c = 0; c < 3; c++) if (Math.abs(channel(segmentation, p, c) - bg[c]!) > 1 / 255) foreground = 1;
      out.data[p * 3] = clamp01(luminanceAt(lighting, p));
      out.data[p * 3 + 1] = clamp01(luminanceAt(segmentation, p));
      out.data[p * 3 + 2] = foreground;
    }
    return out;
  }
}
