/**
 * Small helpers shared by the blender and condition plugins: image allocation, size checks,
 * per-pixel channel access with a one-channel image broadcast to three, luminance, and
 * option parsing with errors that name the plugin and the option.
 */
import type { Image } from '../../core/plugins/tokens.ts';

export function makeImage(width: number, height: number, channels: number): Image & { data: Float32Array } {
  return { width, height, channels, data: new Float32Array(width * height * channels) };
}

export function checkImage(op: string, what: string, img: Image): void {
  if (!img || !(img.data instanceof Float32Array)) throw new TypeError(`${op}: ${what} is not an Image (HWC Float32Array)`);
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width <= 0 || img.height <= 0) {
    throw new RangeError(`${op}: ${what} has a bad size ${img.width}x${img.height}`);
  }
  if (img.channels !== 1 && img.channels !== 3 && img.channels !== 4) {
    throw new RangeError(`${op}: ${what} has ${img.channels} channels; expected 1, 3 or 4`);
  }
  if (img.data.length !== img.width * img.height * img.channels) {
    throw new RangeError(`${op}: ${what} holds ${img.data.length} values, expected ${img.width}x${img.height}x${img.channels}`);
  }
}

/** Checks both images and that they have the same width and height. */
export function checkPair(op: string, lighting: Image, segmentation: Image): void {
  checkImage(op, 'lighting', lighting);
  checkImage(op, 'segmentation', segmentation);
  if (lighting.width !== segmentation.width || lighting.height !== segmentation.height) {
    throw new RangeError(
      `${op}: lighting is ${lighting.width}x${lighting.height} but segmentation is ${segmentation.width}x${segmentation.height}; they must be the same size`,
    );
  }
}

/** Channel c (0..2) of pixel p; a one-channel image gives its value for every channel, alpha is ignored. */
export function channel(img: Image, p: number, c: number): number {
  return img.channels === 1 ? img.data[p]! : img.data[p * img.channels + c]!;
}

/** Rec. 601 luma of pixel p. */
export function luminanceAt(img: Image, p: number): number {
  if (img.channels === 1) return img.data[p]!;
  const o = p * img.channels;
  return 0.299 * img.data[o]! + 0.587 * img.data[o + 1]! + 0.114 * img.data[o + 2]!;
}

export function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** A per-pixel RGB blend: out = f(lighting, segmentation) channel by channel, clamped to [0, 1]. */
export function blendRgb(op: string, lighting: Image, segmentation: Image, f: (l: number, s: number) => number): Image {
  checkPair(op, lighting, segmentation);
  const out = makeImage(lighting.width, lighting.height, 3);
  const n = lighting.width * lighting.height;
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) out.data[p * 3 + c] = clamp01(f(channel(lighting, p, c), channel(segmentation, p, c)));
  }
  return out;
}

/** Refuses option names the plugin does not read, so a typo (`wieght=0.3`) is an error rather than a silent default. */
export function checkOptionNames(op: string, options: Readonly<Record<string, unknown>> | undefined, known: readonly string[]): void {
  const unknown = Object.keys(options ?? {}).filter((k) => !known.includes(k));
  if (unknown.length === 0) return;
  const list = (names: readonly string[]) => names.map((n) => `"${n}"`).join(', ');
  throw new RangeError(`${op}: unknown option ${list(unknown)}; it takes ${known.length ? list(known) : 'no options'}`);
}

/** A number option with a default and a range; the error names the plugin and the option. */
export function numberOption(
  op: string,
  options: Readonly<Record<string, unknown>> | undefined,
  name: string,
  fallback: number,
  min = -Infinity,
  max = Infinity,
): number {
  const v = options?.[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new RangeError(`${op}: option "${name}" must be a number in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

/** An RGB colour option given as [r, g, b] in 0..255. */
export function colorOption(
  op: string,
  options: Readonly<Record<string, unknown>> | undefined,
  name: string,
  fallback: readonly [number, number, number],
): [number, number, number] {
  const v = options?.[name];
  if (v === undefined) return [fallback[0], fallback[1], fallback[2]];
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== 'number' || !(x >= 0 && x <= 255))) {
    throw new RangeError(`${op}: option "${name}" must be an [r, g, b] colour with values in 0..255, got ${JSON.stringify(v)}`);
  }
  return [v[0], v[1], v[2]];
}
