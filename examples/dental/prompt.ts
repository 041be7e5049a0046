/**
 * Prompts from file names, with the seed's template. The name carries jaw and view
 * (`upper_front_00017.png`); the parser reads them back from any reasonable spelling:
 * case does not matter, words may be split by `_`, `-`, `.`, spaces or camelCase, and other
 * words (an index, a prefix) are ignored. It fails, naming the file, when a name has no jaw,
 * no view, or two different ones.
 */
import { JAWS, VIEWS, type Jaw, type View } from './scene.ts';

export const PROMPT_TEMPLATE =
  'a 3D dental model of {jaw} teeth, {view} view, with professional lighting, high quality, detailed, dental photography, clinical lighting setup';

export function promptFor(jaw: Jaw, view: View): string {
  return PROMPT_TEMPLATE.replace('{jaw}', jaw).replace('{view}', view);
}

/** The generator's file name of a sample: `upper_front_00017.png`. */
export function sampleFileName(jaw: Jaw, view: View, index: number, ext = 'png'): string {
  return `${jaw}_${view}_${String(index).padStart(5, '0')}.${ext}`;
}

export class SampleNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SampleNameError';
  }
}

export interface ParsedSampleName {
  jaw: Jaw;
  view: View;
  /** The last run of digits in the name, if any. */
  index: number | null;
}

/** Reads jaw and view from a file name or path (only the base name is looked at). */
export function parseSampleName(fileName: string): ParsedSampleName {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  const stem = base.replace(/\.[a-z0-9]+$/i, '');
  const words = stem
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/([a-zA-Z])(\d)/g, '$1 $2')
    .replace(/(\d)([a-zA-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
  const jaws = [...new Set(words.filter((w): w is Jaw => (JAWS as readonly string[]).includes(w)))];
  const views = [...new Set(words.filter((w): w is View => (VIEWS as readonly string[]).includes(w)))];
  const expected = `expected a jaw (${JAWS.join('|')}) and a view (${VIEWS.join('|')}) as words, e.g. "upper_front_00017.png"`;
  if (jaws.length !== 1) {
    throw new SampleNameError(`cannot read the jaw from file name "${base}": ${jaws.length === 0 ? 'found none' : `found ${jaws.join(' and ')}`}; ${expected}`);
  }
  if (views.length !== 1) {
    throw new SampleNameError(`cannot read the view from file name "${base}": ${views.length === 0 ? 'found none' : `found ${views.join(' and ')}`}; ${expected}`);
  }
  const digits = words.filter((w) => /^\d+$/.test(w));
  return { jaw: jaws[0]!, view: views[0]!, index: digits.length ? Number(digits[digits.length - 1]) : null };
}

/** The prompt of a file, from its name. */
export function promptFromFileName(fileName: string): string {
  const { jaw, view } = parseSampleName(fileName);
  return promptFor(jaw, view);
}

/** Swaps the words `left` and `right` (for a horizontally flipped sample). */
export function swapLeftRight(prompt: string): string {
  return prompt.replace(/\b(left|right)\b/gi, (w) => {
    const swapped = w.toLowerCase() === 'left' ? 'right' : 'left';
    return w[0] === w[0]!.toUpperCase() ? swapped[0]!.toUpperCase() + swapped.slice(1) : swapped;
  });
}
