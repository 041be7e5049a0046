/**
 * Soft edges as a ConditionExtractor (`soft-edges`): the blurred image's Sobel gradient
 * magnitude, normalised by its maximum and shaped by a gamma, so edges come out as grey ramps
 * rather than canny's one-pixel binary lines (a cheap stand-in for HED-style conditions).
 * Options: sigma (blur, default 1), gamma (default 0.6), channels (1 or 3, default 3).
 */
import type { ConditionExtractor, Image } from '../../core/plugins/tokens.ts';
import { checkImage, checkOptionNames, makeImage, numberOption } from '../blenders/pixels.ts';
import { gaussianBlur, lumaPlane, sobel } from './filters.ts';

export class SoftEdgesExtractor implements ConditionExtractor {
  readonly name = 'soft-edges';

  extract(image: Image, options?: Readonly<Record<string, unknown>>): Image {
    const op = 'soft-edges';
    checkImage(op, 'image', image);
    checkOptionNames(op, options, ['sigma', 'gamma', 'channels']);
    const sigma = numberOption(op, options, 'sigma', 1, 0, 10);
    const gamma = numberOption(op, options, 'gamma', 0.6, 0.05, 5);
    const channels = numberOption(op, options, 'channels', 3);
    if (channels !== 1 && channels !== 3) throw new RangeError(`soft-edges: option "channels" must be 1 or 3, got ${channels}`);
    const { width: w, height: h } = image;
    const { gx, gy } = sobel(gaussianBlur(lumaPlane(image), w, h, sigma), w, h);
    const mag = new Float32Array(w * h);
    let max = 0;
    for (let k = 0; k < w * h; k++) {
      const m = Math.hypot(gx[k]!, gy[k]!);
      mag[k] = m;
      if (m > max) max = m;
    }
    const out = makeImage(w, h, channels);
    for (let p = 0; p < w * h; p++) {
      const v = max > 1e-6 ? Math.pow(mag[p]! / max, gamma) : 0;
      for (let c = 0; c < channels; c++) out.data[p * channels + c] = v;
    }
    return out;
  }
}
