/**
 * A tokenizer from JSON-able options (what a recipe can say): a saved word-level tokenizer, a
 * word-level tokenizer built from a prompt corpus, or a CLIP BPE tokenizer from vocab.json and
 * merges.txt. File paths resolve against `baseDir` (a recipe's folder).
 */
import { isAbsolute, resolve } from 'node:path';
import { ArgumentError } from '../../core/index.ts';
import { ClipTokenizer } from './clip-tokenizer.ts';
import { WordTokenizer } from './word-tokenizer.ts';

export type TokenizerOptions =
  /** A WordTokenizer JSON file (WordTokenizer.save). */
  | { kind: 'word'; path: string }
  /** A WordTokenizer built from these prompts. */
  | { kind: 'word'; corpus: readonly string[]; minFrequency?: number; maxVocab?: number; contextLength?: number }
  /** CLIP's byte-level BPE from its two files. */
  | { kind: 'clip'; vocab: string; merges: string; contextLength?: number; padToken?: string };

export function tokenizerFromOptions(options: TokenizerOptions, baseDir: string = process.cwd()): WordTokenizer | ClipTokenizer {
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const o = options as Record<string, unknown> | undefined;
  if (o?.kind === 'word' && typeof o.path === 'string') return WordTokenizer.load(at(o.path));
  if (o?.kind === 'word' && Array.isArray(o.corpus)) {
    const { corpus, minFrequency, maxVocab, contextLength } = options as Extract<TokenizerOptions, { corpus: readonly string[] }>;
    return WordTokenizer.fromCorpus(corpus, { minFrequency, maxVocab, contextLength });
  }
  if (o?.kind === 'clip' && typeof o.vocab === 'string' && typeof o.merges === 'string') {
    const { vocab, merges, contextLength, padToken } = options as Extract<TokenizerOptions, { kind: 'clip' }>;
    return ClipTokenizer.fromFiles(at(vocab), at(merges), { contextLength, padToken });
  }
  throw new ArgumentError(
    `tokenizer options: need { kind: 'word', path } (a word tokenizer JSON), { kind: 'word', corpus: [prompts] } or { kind: 'clip', vocab, merges } (file paths); got ${JSON.stringify(options)}`,
  );
}
