/**
 * PNG in and out with sharp. Images are `Image`s (HWC float in [0, 1]); writing quantises to
 * 8 bits with rounding, and sharp's PNG encoder is deterministic for fixed options, so the same
 * pixels always give the same bytes.
 */
import sharp from 'sharp';
import type { Image } from '../../core/plugins/tokens.ts';

export function toBytes(image: Image): Uint8Array {
  const out = new Uint8Array(image.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(Math.min(1, Math.max(0, image.data[i]!)) * 255);
  return out;
}

export function fromBytes(bytes: Uint8Array, width: number, height: number, channels: number): Image {
  const data = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) data[i] = bytes[i]! / 255;
  return { width, height, channels, data };
}

export async function encodePng(image: Image): Promise<Buffer> {
  if (![1, 2, 3, 4].includes(image.channels)) {
    throw new RangeError(`encodePng: a PNG holds 1 to 4 channels, this image has ${image.channels}`);
  }
  return sharp(Buffer.from(toBytes(image)), { raw: { width: image.width, height: image.height, channels: image.channels as 1 | 2 | 3 | 4 } })
    .png({ compressionLevel: 6, adaptiveFiltering: false })
    .toBuffer();
}

export async function writePng(path: string, image: Image): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, await encodePng(image));
}

/** Tiles images (all the same size) into a grid with a `gap`-pixel dark border, RGB. */
export function gridImage(rows: Image[][], gap = 2): Image {
  const w = rows[0]![0]!.width, h = rows[0]![0]!.height;
  const cols = Math.max(...rows.map((r) => r.length));
  const W = cols * w + (cols + 1) * gap, H = rows.length * h + (rows.length + 1) * gap;
  const data = new Float32Array(W * H * 3).fill(0.12);
  rows.forEach((row, r) => row.forEach((img, c) => {
    if (img.width !== w || img.height !== h) throw new RangeError(`gridImage: tile ${r},${c} is ${img.width}x${img.height}, expected ${w}x${h}`);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = ((gap + r * (h + gap) + y) * W + gap + c * (w + gap) + x) * 3, i = (y * w + x) * img.channels;
        for (let ch = 0; ch < 3; ch++) data[o + ch] = img.data[i + (img.channels >= 3 ? ch : 0)]!;
      }
    }
  }));
  return { width: W, height: H, channels: 3, data };
}
