/**
 * Canny edge detector as a ConditionExtractor (`canny`): luma, Gaussian blur, Sobel gradients,
 * non-maximum suppression along the gradient direction, and hysteresis between two thresholds.
 * Thresholds are in OpenCV's units (gradient magnitude of an 8-bit image, L2 norm), so the
 * ControlNet habit of low = 100, high = 200 means the same thing here.
 * Options: low (default 100), high (200), sigma (blur, default 0.8; 0 for none), channels (1 or 3, default 3).
 */
import type { ConditionExtractor, Image } from '../../core/plugins/tokens.ts';
import { checkImage, checkOptionNames, makeImage, numberOption } from '../blenders/pixels.ts';
import { gaussianBlur, lumaPlane, sobel } from './filters.ts';

/** Binary edge map (1 on edges) of a grey image with values in [0, 1]. */
export function cannyEdges(grey: Float32Array, w: number, h: number, low: number, high: number, sigma: number): Uint8Array {
  const { gx, gy } = sobel(gaussianBlur(grey, w, h, sigma), w, h);
  const mag = new Float32Array(w * h), dir = new Uint8Array(w * h);
  for (let k = 0; k < w * h; k++) {
    mag[k] = Math.hypot(gx[k]!, gy[k]!) * 255; // in 8-bit units, as OpenCV's thresholds
    const angle = ((Math.atan2(gy[k]!, gx[k]!) * 180) / Math.PI + 180) % 180;
    dir[k] = angle < 22.5 || angle >= 157.5 ? 0 : angle < 67.5 ? 1 : angle < 112.5 ? 2 : 3;
  }
  const steps: Array<[number, number]> = [[1, 0], [1, 1], [0, 1], [-1, 1]];
  const state = new Uint8Array(w * h); // 0 none, 1 weak, 2 strong
  const stack: number[] = [];
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const k = y * w + x, m = mag[k]!;
      if (m < low) continue;
      const [dx, dy] = steps[dir[k]!]!;
      if (m < mag[(y + dy) * w + x + dx]! || m < mag[(y - dy) * w + x - dx]!) continue;
      state[k] = m >= high ? 2 : 1;
      if (m >= high) stack.push(k);
    }
  }
  const edges = new Uint8Array(w * h);
  while (stack.length) {
    const k = stack.pop()!;
    if (edges[k]) continue;
    edges[k] = 1;
    const x = k % w, y = (k - x) / w;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx, yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) continue;
        const n = yy * w + xx;
        if (state[n]! > 0 && !edges[n]) stack.push(n);
      }
    }
  }
  return edges;
}

export class CannyExtractor implements ConditionExtractor {
  readonly name = 'canny';

  extract(image: Image, options?: Readonly<Record<string, unknown>>): Image {
    const op = 'canny';
    checkImage(op, 'image', image);
    checkOptionNames(op, options, ['low', 'high', 'sigma', 'channels']);
    const low = numberOption(op, options, 'low', 100, 0);
    const high = numberOption(op, options, 'high', 200, 0);
    if (high < low) throw new RangeError(`canny: option "high" (${high}) must be >= "low" (${low})`);
    const sigma = numberOption(op, options, 'sigma', 0.8, 0, 10);
    const channels = numberOption(op, options, 'channels', 3);
    if (channels !== 1 && channels !== 3) throw new RangeError(`canny: option "channels" must be 1 or 3, got ${channels}`);
    const { width: w, height: h } = image;
    const edges = cannyEdges(lumaPlane(image), w, h, low, high, sigma);
    const out = makeImage(w, h, channels);
    for (let p = 0; p < w * h; p++) for (let c = 0; c < channels; c++) out.data[p * channels + c] = edges[p]!;
    return out;
  }
}
