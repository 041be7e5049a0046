import 'reflect-metadata';
import fc from 'fast-check';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { TOKENS, type Image } from '../../core/plugins/tokens.ts';
import {
  AlphaBlender, BLENDERS, blenderByName, ChannelStackBlender, MaskCompositeBlender, MultiplyBlender, OverlayBlender,
  register, ScreenBlender, SoftLightBlender,
} from '../../plugins/blenders/index.ts';
import { DEFAULT_GUM } from '../../plugins/blenders/mask-composite.ts';

const unit = fc.float({ min: 0, max: 1, noNaN: true, noDefaultInfinity: true });

function imageArb(width: number, height: number, channels: number): fc.Arbitrary<Image> {
  return fc.array(unit, { minLength: width * height * channels, maxLength: width * height * channels })
    .map((v) => ({ width, height, channels, data: Float32Array.from(v) }));
}

/** A lighting map (1 or 3 channels) and a segmentation map (3 channels) of one random size. */
const pairArb = fc.record({ w: fc.integer({ min: 1, max: 6 }), h: fc.integer({ min: 1, max: 6 }), lc: fc.constantFrom(1, 3) })
  .chain(({ w, h, lc }) => fc.tuple(imageArb(w, h, lc), imageArb(w, h, 3)));

/** Segmentation pixels drawn from background, gum and a few tooth colours, like a real map. */
const segPixel = fc.constantFrom<[number, number, number]>([0, 0, 0], [...DEFAULT_GUM] as [number, number, number], [40, 200, 90], [230, 210, 40], [60, 80, 240]);
const labelledPairArb = fc.record({ w: fc.integer({ min: 1, max: 6 }), h: fc.integer({ min: 1, max: 6 }) }).chain(({ w, h }) =>
  fc.tuple(
    imageArb(w, h, 3),
    fc.array(segPixel, { minLength: w * h, maxLength: w * h }).map((px) => ({ width: w, height: h, channels: 3, data: Float32Array.from(px.flat().map((v) => v / 255)) })),
  ));

const at = (img: Image, p: number, c: number) => (img.channels === 1 ? img.data[p]! : img.data[p * img.channels + c]!);

describe('every blender', () => {
  it('keeps the size and stays in [0, 1]', () => {
    for (const make of BLENDERS) {
      const b = make();
      fc.assert(fc.property(pairArb, ([l, s]) => {
        const out = b.blend(l, s);
        expect(out.width).toBe(l.width);
        expect(out.height).toBe(l.height);
        expect(out.data.length).toBe(out.width * out.height * out.channels);
        for (const v of out.data) {
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(1);
        }
      }), { numRuns: 60 });
    }
  });

  it('rejects images of different sizes, naming the blender and both sizes', () => {
    const l: Image = { width: 4, height: 4, channels: 3, data: new Float32Array(48) };
    const s: Image = { width: 4, height: 5, channels: 3, data: new Float32Array(60) };
    for (const make of BLENDERS) {
      const b = make();
      expect(() => b.blend(l, s)).toThrow(new RegExp(`${b.name} blender: lighting is 4x4 but segmentation is 4x5`));
    }
    expect(() => new MultiplyBlender().blend({ width: 2, height: 2, channels: 3, data: new Float32Array(5) }, l)).toThrow(/holds 5 values/);
  });
});

describe('alpha', () => {
  it('weight 0 gives the lighting back, weight 1 the segmentation', () => {
    fc.assert(fc.property(pairArb, ([l, s]) => {
      const a0 = new AlphaBlender().blend(l, s, { weight: 0 });
      const a1 = new AlphaBlender().blend(l, s, { weight: 1 });
      for (let p = 0; p < l.width * l.height; p++) {
        for (let c = 0; c < 3; c++) {
          expect(a0.data[p * 3 + c]).toBe(at(l, p, c));
          expect(a1.data[p * 3 + c]).toBe(at(s, p, c));
        }
      }
    }));
  });

  it('is the weighted mean in between and rejects a weight outside [0, 1]', () => {
    const l: Image = { width: 1, height: 1, channels: 1, data: Float32Array.of(0.2) };
    const s: Image = { width: 1, height: 1, channels: 3, data: Float32Array.of(1, 0, 0.6) };
    expect(Array.from(new AlphaBlender().blend(l, s, { weight: 0.25 }).data)).toEqual(
      [0.75 * 0.2 + 0.25, 0.75 * 0.2, 0.75 * 0.2 + 0.25 * 0.6].map(Math.fround),
    );
    expect(() => new AlphaBlender().blend(l, s, { weight: 1.5 })).toThrow(/alpha blender: option "weight" must be a number in \[0, 1\], got 1.5/);
  });
});

describe('multiply and screen', () => {
  const invert = (img: Image): Image => ({ ...img, data: img.data.map((v) => 1 - v) });
  it('are dual: screen(l, s) = 1 - multiply(1 - l, 1 - s)', () => {
    fc.assert(fc.property(pairArb, ([l, s]) => {
      const screen = new ScreenBlender().blend(l, s);
      const dual = new MultiplyBlender().blend(invert(l), invert(s));
      for (let i = 0; i < screen.data.length; i++) expect(screen.data[i]!).toBeCloseTo(1 - dual.data[i]!, 5);
    }));
  });

  it('multiply darkens and screen lightens', () => {
    fc.assert(fc.property(pairArb, ([l, s]) => {
      const m = new MultiplyBlender().blend(l, s), sc = new ScreenBlender().blend(l, s);
      for (let p = 0; p < l.width * l.height; p++) {
        for (let c = 0; c < 3; c++) {
          const lo = Math.min(at(l, p, c), at(s, p, c)), hi = Math.max(at(l, p, c), at(s, p, c));
          expect(m.data[p * 3 + c]!).toBeLessThanOrEqual(lo + 1e-6);
          expect(sc.data[p * 3 + c]!).toBeGreaterThanOrEqual(hi - 1e-6);
        }
      }
    }));
  });
});

describe('overlay and soft light', () => {
  it('leave the segmentation as it is under a mid-grey lighting map', () => {
    fc.assert(fc.property(pairArb, ([l, s]) => {
      const grey: Image = { ...l, data: new Float32Array(l.data.length).fill(0.5) };
      for (const b of [new OverlayBlender(), new SoftLightBlender()]) {
        const out = b.blend(grey, s);
        for (let i = 0; i < out.data.length; i++) expect(out.data[i]!).toBeCloseTo(s.data[i]!, 5);
      }
    }));
  });

  it('are monotone in the lighting', () => {
    fc.assert(fc.property(pairArb, ([l, s]) => {
      const brighter: Image = { ...l, data: l.data.map((v) => Math.min(1, v + 0.2)) };
      for (const b of [new OverlayBlender(), new SoftLightBlender()]) {
        const a = b.blend(l, s), c = b.blend(brighter, s);
        for (let i = 0; i < a.data.length; i++) expect(c.data[i]!).toBeGreaterThanOrEqual(a.data[i]! - 1e-6);
      }
    }));
  });
});

describe('mask composite', () => {
  it('leaves background and gum pixels untouched (the lighting map) and shades the teeth', () => {
    fc.assert(fc.property(labelledPairArb, ([l, s]) => {
      const out = new MaskCompositeBlender().blend(l, s);
      for (let p = 0; p < l.width * l.height; p++) {
        const rgb = [0, 1, 2].map((c) => Math.round(s.data[p * 3 + c]! * 255));
        const isBg = rgb.every((v) => v === 0), isGum = rgb.every((v, c) => v === DEFAULT_GUM[c]);
        for (let c = 0; c < 3; c++) {
          if (isBg || isGum) expect(out.data[p * 3 + c]).toBe(l.data[p * 3 + c]);
          else expect(out.data[p * 3 + c]!).toBeLessThanOrEqual(s.data[p * 3 + c]! + 1e-6);
        }
      }
    }));
  });

  it('under full light keeps the tooth colour, and validates its options', () => {
    const l: Image = { width: 1, height: 1, channels: 1, data: Float32Array.of(1) };
    const s: Image = { width: 1, height: 1, channels: 3, data: Float32Array.of(0.2, 0.8, 0.4) };
    expect(Array.from(new MaskCompositeBlender().blend(l, s).data)).toEqual([0.2, 0.8, 0.4].map(Math.fround));
    const dark = { ...l, data: Float32Array.of(0) };
    expect(new MaskCompositeBlender().blend(dark, s, { floor: 0.5 }).data[1]).toBeCloseTo(0.4, 6);
    expect(() => new MaskCompositeBlender().blend(l, s, { gum: [1, 2] })).toThrow(/option "gum" must be an \[r, g, b\] colour/);
  });
});

describe('channel stack', () => {
  it('puts lighting luminance and the segmentation in separate channels', () => {
    fc.assert(fc.property(labelledPairArb, ([l, s]) => {
      const rgb = new ChannelStackBlender().blend(l, s);
      const rgba = new ChannelStackBlender().blend(l, s, { mode: 'rgba' });
      expect(rgb.channels).toBe(3);
      expect(rgba.channels).toBe(4);
      for (let p = 0; p < l.width * l.height; p++) {
        const lum = 0.299 * l.data[p * 3]! + 0.587 * l.data[p * 3 + 1]! + 0.114 * l.data[p * 3 + 2]!;
        expect(rgb.data[p * 3]!).toBeCloseTo(lum, 5);
        expect(rgba.data[p * 4]!).toBeCloseTo(lum, 5);
        const fg = [0, 1, 2].some((c) => s.data[p * 3 + c]! > 0) ? 1 : 0;
        expect(rgb.data[p * 3 + 2]).toBe(fg);
        for (let c = 0; c < 3; c++) expect(rgba.data[p * 4 + 1 + c]).toBe(s.data[p * 3 + c]);
      }
    }));
    const one: Image = { width: 1, height: 1, channels: 3, data: new Float32Array(3) };
    expect(() => new ChannelStackBlender().blend(one, one, { mode: 'cmyk' })).toThrow(/option "mode" must be "rgb" or "rgba"/);
  });
});

describe('registration', () => {
  it('registers every blender under the token and finds them by name', () => {
    const c = container.createChildContainer();
    register(c);
    const names = c.resolveAll(TOKENS.ConditionBlender).map((b) => b.name);
    expect(names).toEqual(['alpha', 'multiply', 'screen', 'overlay', 'soft-light', 'mask-composite', 'channel-stack']);
    expect(blenderByName(c, 'screen')).toBeInstanceOf(ScreenBlender);
    expect(() => blenderByName(c, 'darken')).toThrow(
      'unknown condition blender "darken"; registered: alpha, multiply, screen, overlay, soft-light, mask-composite, channel-stack',
    );
    expect(() => blenderByName(container.createChildContainer(), 'alpha')).toThrow(/registered: \(none\)/);
  });

  it('refuses an option name a blender does not read, listing the ones it takes', () => {
    const one: Image = { width: 1, height: 1, channels: 3, data: Float32Array.of(0.2, 0.4, 0.6) };
    const takes: Record<string, string> = {
      alpha: '"weight"', multiply: 'no options', screen: 'no options', overlay: 'no options', 'soft-light': 'no options',
      'mask-composite': '"floor", "tolerance", "background", "gum"', 'channel-stack': '"mode", "background"',
    };
    for (const make of BLENDERS) {
      const b = make();
      expect(() => b.blend(one, one, { wieght: 0.3 })).toThrow(`${b.name} blender: unknown option "wieght"; it takes ${takes[b.name]}`);
      expect(b.blend(one, one, {}).data).toHaveLength(3);
    }
  });

  it('takes a user blender added in one place', () => {
    const c = container.createChildContainer();
    register(c);
    c.register(TOKENS.ConditionBlender, { useValue: { name: 'lighting-only', blend: (l: Image) => l } });
    const l: Image = { width: 1, height: 1, channels: 1, data: Float32Array.of(0.3) };
    expect(blenderByName(c, 'lighting-only').blend(l, l)).toBe(l);
  });
});
