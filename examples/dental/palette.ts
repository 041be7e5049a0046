/**
 * The segmentation palette: a fixed flat colour per FDI tooth number (11-17, 21-27, 31-37,
 * 41-47), one for the gums (and palate) and black for the background. Fixed, so a colour means
 * the same tooth in every sample and in every dataset made by this generator.
 */

export type Rgb = readonly [number, number, number];

export const BACKGROUND_COLOR: Rgb = [0, 0, 0];
export const GUM_COLOR: Rgb = [255, 96, 128];

/** FDI numbers of the permanent teeth this generator models (third molars left out). */
export const FDI_NUMBERS: readonly number[] = [1, 2, 3, 4].flatMap((q) => [1, 2, 3, 4, 5, 6, 7].map((p) => q * 10 + p));

function hslToRgb(h: number, s: number, l: number): Rgb {
  const k = (n: number) => (n + h * 12) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [Math.round(f(0) * 255), Math.round(f(8) * 255), Math.round(f(4) * 255)];
}

/**
 * Tooth colours: hue walks round the wheel by position (1..7), so neighbours differ strongly;
 * the quadrant shifts hue by a little and picks the lightness, so all 28 colours are distinct
 * and none is near the gum's pink or the black background.
 */
const TOOTH_COLORS = new Map<number, Rgb>();
for (const fdi of FDI_NUMBERS) {
  const quadrant = Math.floor(fdi / 10), position = fdi % 10;
  const hue = (((position - 1) * 3) % 7) / 7 * 0.8 + 0.12 + (quadrant - 1) * 0.02;
  const light = [0.42, 0.58, 0.5, 0.66][quadrant - 1]!;
  TOOTH_COLORS.set(fdi, hslToRgb(hue % 1, 0.85, light));
}

export function toothColor(fdi: number): Rgb {
  const c = TOOTH_COLORS.get(fdi);
  if (!c) throw new RangeError(`toothColor: ${fdi} is not an FDI number this palette knows (11-17, 21-27, 31-37, 41-47)`);
  return c;
}
