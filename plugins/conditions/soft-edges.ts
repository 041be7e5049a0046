/**
 * Soft edges as a ConditionExtractor (`soft-edges`): the blurred image's Sobel gradient
 * magnitude, normalised by its maximum and shaped by a gamma, so edges come out as grey ramps
 * rather than canny's one-pixel binary lines (a cheap stand-in for HED-style conditions).
 * Options: sigma (blur, default 1), gamma (default 0.6), channels (1 or 3, default 3).
 */
import type { ConditionExtractor, Image } from '../../core/plugins/tokens.ts';
import { checkImage, checkOptionNames, luminanceAt, makeImage, numberOption } from '../blenders/pixels.ts';
import { gaussianBlur } from './canny.ts';

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
    const grey = new Float32Array(w * h);
    for (let p = 0; p < w * h; p++) grey[p] = luminanceAt(image, p);
    const g = gaussianBlur(grey, w, h, sigma);
    const at = (x: number, y: number) => g[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))]!;
    const mag = new Float32Array(w * h);
    let max = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const gx = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
        const gy = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
        const m = Math.hypot(gx, gy);
        mag[y * w + x] = m;
        if (m > max) max = m;
      }
    }
    const out = makeImage(w, h, channels);
    for (let p = 0; p < w * h; p++) {
      const v = max > 1e-6 ? Math.pow(mag[p]! / max, gamma) : 0;
      for (let c = 0; c < channels; c++) out.data[p * channels + c] = v;
    }
    return out;
  }
}
