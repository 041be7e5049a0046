/**
 * Image filters shared by the edge extractors: a luma plane, a separable Gaussian blur, and
 * Sobel gradients, on one-channel planes (row-major, `w` x `h`) with clamped borders.
 */
import type { Image } from '../../core/plugins/tokens.ts';
import { luminanceAt } from '../blenders/pixels.ts';

/** Rec. 601 luma of every pixel, as one plane. */
export function lumaPlane(image: Image): Float32Array {
  const grey = new Float32Array(image.width * image.height);
  for (let p = 0; p < grey.length; p++) grey[p] = luminanceAt(image, p);
  return grey;
}

/** Separable Gaussian blur of standard deviation `sigma` pixels (radius 2.5 sigma); sigma 0 returns the plane as it is. */
export function gaussianBlur(src: Float32Array, w: number, h: number, sigma: number): Float32Array {
  if (sigma <= 0) return src;
  const r = Math.max(1, Math.ceil(2.5 * sigma));
  const k = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let i = -r; i <= r; i++) sum += k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] = k[i]! / sum;
  const tmp = new Float32Array(w * h), out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let acc = 0;
      for (let i = -r; i <= r; i++) acc += k[i + r]! * src[y * w + Math.min(w - 1, Math.max(0, x + i))]!;
      tmp[y * w + x] = acc;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let acc = 0;
      for (let i = -r; i <= r; i++) acc += k[i + r]! * tmp[Math.min(h - 1, Math.max(0, y + i)) * w + x]!;
      out[y * w + x] = acc;
    }
  }
  return out;
}

/** Sobel gradients (x to the right, y downward) of a plane. */
export function sobel(g: Float32Array, w: number, h: number): { gx: Float64Array; gy: Float64Array } {
  const at = (x: number, y: number) => g[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))]!;
  const gx = new Float64Array(w * h), gy = new Float64Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      gx[y * w + x] = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      gy[y * w + x] = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
    }
  }
  return { gx, gy };
}
