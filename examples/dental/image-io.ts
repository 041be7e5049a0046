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

const PNG_OPTIONS = { compressionLevel: 6, adaptiveFiltering: false } as const;
const GRID_BACKGROUND = 0.12;

export async function encodePng(image: Image): Promise<Buffer> {
  if (![1, 2, 3, 4].includes(image.channels)) {
    throw new RangeError(`encodePng: a PNG holds 1 to 4 channels, this image has ${image.channels}`);
  }
  return sharp(Buffer.from(toBytes(image)), { raw: { width: image.width, height: image.height, channels: image.channels as 1 | 2 | 3 | 4 } })
    .png(PNG_OPTIONS)
    .toBuffer();
}

/** Tiles images (all the same size) into a grid with a `gap`-pixel dark border, RGB. */
export function gridImage(rows: Image[][], gap = 2): Image {
  const w = rows[0]![0]!.width, h = rows[0]![0]!.height;
  const cols = Math.max(...rows.map((r) => r.length));
  const W = cols * w + (cols + 1) * gap, H = rows.length * h + (rows.length + 1) * gap;
  const data = new Float32Array(W * H * 3).fill(GRID_BACKGROUND);
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

/** Font size and header height (pixels) of the label row above a grid of `tileWidth`-wide tiles. */
export function gridHeader(tileWidth: number): { fontSize: number; height: number } {
  const fontSize = Math.max(8, Math.min(14, Math.round(tileWidth / 9)));
  return { fontSize, height: fontSize + 8 };
}

const xmlEscape = (t: string) => t.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * `gridImage(rows)` as a PNG with a header row naming each column: the labels are an SVG drawn
 * by sharp (librsvg) and composited above the tiles; a label too wide for its tile is set smaller.
 */
export async function labelledGridPng(rows: Image[][], labels: readonly string[], gap = 2): Promise<Buffer> {
  const grid = gridImage(rows, gap);
  const tile = rows[0]![0]!.width;
  if (labels.length !== Math.max(...rows.map((r) => r.length))) {
    throw new RangeError(`labelledGridPng: ${labels.length} labels for ${Math.max(...rows.map((r) => r.length))} columns`);
  }
  const { fontSize, height } = gridHeader(tile);
  const texts = labels.map((label, c) => {
    const x = gap + c * (tile + gap) + tile / 2;
    // librsvg ignores textLength, so a label too wide for its tile gets a smaller font (a glyph is about 0.62 em wide)
    const size = Math.max(5, Math.min(fontSize, Math.floor((tile - 4) / (0.62 * label.length))));
    return `<text x="${x}" y="${height - 6}" font-size="${size}" text-anchor="middle">${xmlEscape(label)}</text>`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${grid.width}" height="${height}">` +
    `<g font-family="DejaVu Sans, Arial, sans-serif" fill="#e6e6e6">${texts.join('')}</g></svg>`;
  const bg = Math.round(GRID_BACKGROUND * 255);
  return sharp(Buffer.from(toBytes(grid)), { raw: { width: grid.width, height: grid.height, channels: 3 } })
    .extend({ top: height, background: { r: bg, g: bg, b: bg } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .removeAlpha()
    .png(PNG_OPTIONS)
    .toBuffer();
}
