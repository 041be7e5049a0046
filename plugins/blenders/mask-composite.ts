/**
 * `mask-composite`: inside the teeth mask, the segmentation colour modulated by the lighting
 * map (colour * (floor + (1 - floor) * luminance)); outside it, the lighting map as it is, so
 * gums and background keep their shading untouched. The teeth mask is every segmentation
 * pixel farther than `tolerance` (0..255, per channel) from both the background and the gum
 * colour of the palette.
 * Options: floor (default 0.25), tolerance (default 24), background ([r,g,b] 0..255, default
 * black), gum ([r,g,b], default the palette's gum colour).
 */
import type { ConditionBlender, Image } from '../../core/plugins/tokens.ts';
import { channel, checkOptionNames, checkPair, clamp01, colorOption, luminanceAt, makeImage, numberOption } from './pixels.ts';

export const DEFAULT_GUM: readonly [number, number, number] = [255, 96, 128];
export const DEFAULT_BACKGROUND: readonly [number, number, number] = [0, 0, 0];

/** 1 where the segmentation pixel is a tooth (neither background nor gum), else 0. */
export function teethMask(segmentation: Image, options?: Readonly<Record<string, unknown>>, op = 'teethMask'): Uint8Array {
  const tol = numberOption(op, options, 'tolerance', 24, 0, 255) / 255;
  const bg = colorOption(op, options, 'background', DEFAULT_BACKGROUND).map((v) => v / 255);
  const gum = colorOption(op, options, 'gum', DEFAULT_GUM).map((v) => v / 255);
  const n = segmentation.width * segmentation.height;
  const mask = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    let nearBg = true, nearGum = true;
    for (let c = 0; c < 3; c++) {
      const v = channel(segmentation, p, c);
      if (Math.abs(v - bg[c]!) > tol) nearBg = false;
      if (Math.abs(v - gum[c]!) > tol) nearGum = false;
    }
    mask[p] = nearBg || nearGum ? 0 : 1;
  }
  return mask;
}

export class MaskCompositeBlender implements ConditionBlender {
  readonly name = 'mask-composite';
  blend(lighting: Image, segmentation: Image, options?: Readonly<Record<string, unknown>>): Image {
    const op = 'mask-composite blender';
    checkPair(op, lighting, segmentation);
    checkOptionNames(op, options, ['floor', 'tolerance', 'background', 'gum']);
    const floor = numberOption(op, options, 'floor', 0.25, 0, 1);
    const mask = teethMask(segmentation, options, op);
    const out = makeImage(lighting.width, lighting.height, 3);
    for (let p = 0; p < mask.length; p++) {
      if (mask[p]) {
        const shade = floor + (1 - floor) * clamp01(luminanceAt(lighting, p));
        for (let c = 0; c < 3; c++) out.data[p * 3 + c] = clamp01(channel(segmentation, p, c) * shade);
      } else {
        for (let c = 0; c < 3; c++) out.data[p * 3 + c] = channel(lighting, p, c);
      }
    }
    return out;
  }
}
