import 'reflect-metadata';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { TOKENS, type Image } from '../../core/plugins/tokens.ts';
import { CannyExtractor, extractorByName, register, SoftEdgesExtractor } from '../../plugins/conditions/index.ts';

function square(size: number, from: number, to: number): Image {
  const data = new Float32Array(size * size * 3);
  for (let y = from; y < to; y++) for (let x = from; x < to; x++) data.fill(1, (y * size + x) * 3, (y * size + x) * 3 + 3);
  return { width: size, height: size, channels: 3, data };
}

describe('canny', () => {
  it('finds the outline of a square and nothing in flat areas', () => {
    const out = new CannyExtractor().extract(square(24, 6, 18), { sigma: 0 });
    const on = (x: number, y: number) => out.data[(y * 24 + x) * 3]!;
    expect(out.channels).toBe(3);
    // flat inside and outside
    expect(on(12, 12)).toBe(0);
    expect(on(1, 1)).toBe(0);
    // each side of the square has an edge pixel on or just before its boundary (x or y = 6 and 18)
    const near = (cx: number, cy: number) => [-1, 0].some((d) => on(cx + (cx === 12 ? 0 : d), cy + (cy === 12 ? 0 : d)) === 1);
    expect(near(6, 12) && near(18, 12) && near(12, 6) && near(12, 18)).toBe(true);
    const count = out.data.filter((v) => v === 1).length / 3;
    expect(count).toBeGreaterThan(30);
    expect(count).toBeLessThan(24 * 12);
    for (const v of out.data) expect(v === 0 || v === 1).toBe(true);
  });

  it('finds nothing in a flat image, and validates options', () => {
    const flat: Image = { width: 8, height: 8, channels: 1, data: new Float32Array(64).fill(0.7) };
    expect(new CannyExtractor().extract(flat, { channels: 1 }).data.every((v) => v === 0)).toBe(true);
    expect(() => new CannyExtractor().extract(flat, { low: 200, high: 100 })).toThrow(/canny: option "high" \(100\) must be >= "low" \(200\)/);
    expect(() => new CannyExtractor().extract(flat, { channels: 2 })).toThrow(/channels/);
    expect(() => new CannyExtractor().extract(flat, { threshold: 100 })).toThrow('canny: unknown option "threshold"; it takes "low", "high", "sigma", "channels"');
  });

  it('registers under the ConditionExtractor token', () => {
    const c = container.createChildContainer();
    register(c);
    expect(c.resolveAll(TOKENS.ConditionExtractor).map((e) => e.name)).toEqual(['canny', 'soft-edges']);
    expect(extractorByName(c, 'canny')).toBeInstanceOf(CannyExtractor);
    expect(extractorByName(c, 'soft-edges')).toBeInstanceOf(SoftEdgesExtractor);
    expect(() => extractorByName(c, 'hed')).toThrow('unknown condition extractor "hed"; registered: canny, soft-edges');
  });
});

describe('soft edges', () => {
  it('peaks (at 1) on the square outline, is 0 in flat areas, and stays in [0, 1]', () => {
    const out = new SoftEdgesExtractor().extract(square(24, 6, 18), { sigma: 0.5, channels: 1 });
    const at = (x: number, y: number) => out.data[y * 24 + x]!;
    expect(Math.max(...out.data)).toBeCloseTo(1, 6);
    expect(at(12, 12)).toBe(0);
    expect(at(1, 1)).toBe(0);
    expect(Math.max(at(5, 12), at(6, 12))).toBeGreaterThan(0.8);
    for (const v of out.data) expect(v >= 0 && v <= 1).toBe(true);
    const flat: Image = { width: 4, height: 4, channels: 1, data: new Float32Array(16).fill(0.3) };
    expect(new SoftEdgesExtractor().extract(flat).data.every((v) => v === 0)).toBe(true);
    expect(() => new SoftEdgesExtractor().extract(flat, { gamma: 0 })).toThrow(/soft-edges: option "gamma"/);
    expect(() => new SoftEdgesExtractor().extract(flat, { low: 1 })).toThrow('soft-edges: unknown option "low"; it takes "sigma", "gamma", "channels"');
  });
});
