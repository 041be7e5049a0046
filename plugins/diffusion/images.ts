/**
 * Image tensors [N, C, H, W] in [0, 1] -> PNG files with sharp: one file per image, or a
 * grid with one row per sample and one column per tensor (input | output | target).
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { ArgumentError, type Tensor } from '../../core/index.ts';
import { fmtShape } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/io/index.ts';

/** Encodes 8-bit RGB pixels as PNG and writes them atomically (a crash never leaves half a file). */
async function writePng(path: string, rgb: { data: Uint8Array; width: number; height: number }): Promise<void> {
  const { data, width, height } = rgb;
  await writeFileAtomic(path, await sharp(Buffer.from(data), { raw: { width, height, channels: 3 } }).png().toBuffer());
}

/** 8-bit RGB pixels (HWC) of image `index` of a [N, 1 or 3, H, W] tensor in [0, 1] (grey is repeated). */
export function toRgb8(images: Tensor, index: number): { data: Uint8Array; width: number; height: number } {
  if (images.ndim !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3)) throw new ArgumentError(`toRgb8: images must be [N, 1 or 3, H, W], got ${fmtShape(images.shape)}`);
  const [n, c, h, w] = images.shape as [number, number, number, number];
  if (!(index >= 0 && index < n)) throw new ArgumentError(`toRgb8: index ${index} out of [0, ${n})`);
  const values = images.slice(0, index, index + 1).contiguous().toArray();
  const data = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < 3; k++) {
        const v = values[(c === 1 ? 0 : k) * h * w + y * w + x]!;
        data[(y * w + x) * 3 + k] = Math.round(Math.min(1, Math.max(0, Number.isNaN(v) ? 0 : v)) * 255);
      }
    }
  }
  return { data, width: w, height: h };
}

/** Writes every image as `<dir>/<prefix><i>.png`; returns the paths. */
export async function writePngs(images: Tensor, dir: string, options: { prefix?: string } = {}): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < images.shape[0]!; i++) {
    const path = join(dir, `${options.prefix ?? 'sample-'}${String(i).padStart(3, '0')}.png`);
    await writePng(path, toRgb8(images, i));
    paths.push(path);
  }
  return paths;
}

export interface GridOptions {
  /** Pixels between cells and around the grid. Default 2. */
  padding?: number;
  /** Grey level of the padding in [0, 1]. Default 1 (white). */
  background?: number;
  /** Upscale every cell by this integer factor (nearest), for tiny images. Default 1. */
  scale?: number;
}

/**
 * The pixels of a grid: row r shows sample r of each column tensor, side by side
 * (e.g. [conditions, samples, targets] for input | output | target). Same H and W everywhere.
 */
export function gridRgb8(columns: readonly Tensor[], options: GridOptions = {}): { data: Uint8Array; width: number; height: number } {
  if (!columns.length) throw new ArgumentError('grid: no columns');
  const [n, , h, w] = columns[0]!.shape as [number, number, number, number];
  for (const [i, col] of columns.entries()) {
    if (col.ndim !== 4 || col.shape[0] !== n || col.shape[2] !== h || col.shape[3] !== w) {
      throw new ArgumentError(`grid: column ${i} is ${fmtShape(col.shape)}; every column must be [${n}, 1 or 3, ${h}, ${w}]`);
    }
  }
  const pad = options.padding ?? 2;
  const s = options.scale ?? 1;
  if (!Number.isInteger(s) || s < 1) throw new ArgumentError(`grid: scale must be an integer >= 1, got ${s}`);
  const cw = w * s;
  const ch = h * s;
  const width = columns.length * (cw + pad) + pad;
  const height = n * (ch + pad) + pad;
  const data = new Uint8Array(width * height * 3).fill(Math.round(Math.min(1, Math.max(0, options.background ?? 1)) * 255));
  for (let r = 0; r < n; r++) {
    columns.forEach((col, c) => {
      const cell = toRgb8(col, r).data;
      const x0 = pad + c * (cw + pad);
      const y0 = pad + r * (ch + pad);
      for (let y = 0; y < ch; y++) {
        for (let x = 0; x < cw; x++) {
          const src = (Math.floor(y / s) * w + Math.floor(x / s)) * 3;
          const dst = ((y0 + y) * width + x0 + x) * 3;
          data[dst] = cell[src]!;
          data[dst + 1] = cell[src + 1]!;
          data[dst + 2] = cell[src + 2]!;
        }
      }
    });
  }
  return { data, width, height };
}

/** Writes the grid of `columns` (input | output | target, ...) as one PNG. */
export async function writeGrid(path: string, columns: readonly Tensor[], options: GridOptions = {}): Promise<string> {
  const grid = gridRgb8(columns, options);
  mkdirSync(dirname(path), { recursive: true });
  await writePng(path, grid);
  return path;
}
