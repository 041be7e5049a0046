import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSampleName, promptFor, promptFromFileName, sampleFileName, SampleNameError, swapLeftRight } from '../../examples/dental/prompt.ts';
import { JAWS, VIEWS } from '../../examples/dental/scene.ts';

describe('prompt template', () => {
  it('fills the seed template from jaw and view', () => {
    expect(promptFor('upper', 'front')).toBe(
      'a 3D dental model of upper teeth, front view, with professional lighting, high quality, detailed, dental photography, clinical lighting setup',
    );
    expect(promptFromFileName('lower_left_00003.png')).toContain('of lower teeth, left view,');
  });

  it('names files jaw_view_index', () => {
    expect(sampleFileName('upper', 'front', 17)).toBe('upper_front_00017.png');
  });
});

describe('parseSampleName', () => {
  it('reads the generator names back', () => {
    expect(parseSampleName('upper_front_00017.png')).toEqual({ jaw: 'upper', view: 'front', index: 17 });
  });

  it('is tolerant of case, separators, camelCase, digits glued to words and folders', () => {
    expect(parseSampleName('UPPER-Front-17.PNG')).toEqual({ jaw: 'upper', view: 'front', index: 17 });
    expect(parseSampleName('lowerLeft00003.jpg')).toEqual({ jaw: 'lower', view: 'left', index: 3 });
    expect(parseSampleName('scan 12 Lower.top.png')).toEqual({ jaw: 'lower', view: 'top', index: 12 });
    expect(parseSampleName('data/renders/upper right.webp')).toEqual({ jaw: 'upper', view: 'right', index: null });
    expect(parseSampleName('C:\\x\\bottom__upper__2.png')).toEqual({ jaw: 'upper', view: 'bottom', index: 2 });
  });

  it('fails with a clear message naming the file when it cannot read a name', () => {
    expect(() => parseSampleName('front_0001.png')).toThrow(SampleNameError);
    expect(() => parseSampleName('front_0001.png')).toThrow(/jaw from file name "front_0001.png": found none/);
    expect(() => parseSampleName('upper_lower_front.png')).toThrow(/found upper and lower/);
    expect(() => parseSampleName('upper_side_3.png')).toThrow(/view from file name "upper_side_3.png"/);
    expect(() => parseSampleName('upper_left_right.png')).toThrow(/found left and right/);
    // "uppermost" is not the word "upper"
    expect(() => parseSampleName('uppermost_front.png')).toThrow(/jaw/);
  });

  it('round-trips any jaw, view and index through any casing and separator', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...JAWS), fc.constantFrom(...VIEWS), fc.nat(99999),
        fc.constantFrom('_', '-', ' ', '.', '__', ' - '), fc.boolean(), fc.boolean(),
        (jaw, view, index, sep, upper, viewFirst) => {
          const words = viewFirst ? [view, jaw, String(index)] : [jaw, view, String(index)];
          const name = (upper ? words.map((w) => w.toUpperCase()) : words).join(sep) + '.png';
          const parsed = parseSampleName(name);
          expect(parsed).toEqual({ jaw, view, index });
          expect(promptFromFileName(name)).toBe(promptFor(jaw, view));
        },
      ),
    );
  });
});

describe('swapLeftRight', () => {
  it('swaps the view words and keeps the rest', () => {
    expect(swapLeftRight(promptFor('upper', 'left'))).toBe(promptFor('upper', 'right'));
    expect(swapLeftRight(promptFor('lower', 'right'))).toBe(promptFor('lower', 'left'));
    expect(swapLeftRight(promptFor('lower', 'front'))).toBe(promptFor('lower', 'front'));
    expect(swapLeftRight('Left and right, bright')).toBe('Right and left, bright');
  });
});
