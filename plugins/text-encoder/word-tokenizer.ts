/**
 * A word-level tokenizer built from a prompt corpus: the tokenizer the dental example uses,
 * since CLIP's vocab.json and merges.txt come from the model hub, which is out of reach here.
 * Prompts are cleaned and split as CLIP does (lowercase; words, single digits, punctuation
 * runs); every distinct piece seen at least `minFrequency` times gets an id, most frequent
 * first. Unseen words map to `<unk>`. It has the same 77-token batching as CLIP's.
 */
import { readFileSync } from 'node:fs';
import { ArgumentError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/io/index.ts';
import { BaseTokenizer, CLIP_CONTEXT_LENGTH, CLIP_PATTERN, clipClean } from './tokenizer.ts';

export const WORD_SPECIALS = { pad: '<pad>', unk: '<unk>', bos: '<bos>', eos: '<eos>' } as const;

export interface WordTokenizerBuildOptions {
  /** Pieces seen fewer times become <unk>. Default 1. */
  minFrequency?: number;
  /** Keep at most this many pieces besides the 4 specials (the most frequent). */
  maxVocab?: number;
  contextLength?: number;
}

/** The JSON a word-level tokenizer saves to. */
export interface WordTokenizerJson {
  type: 'word-level';
  version: 1;
  contextLength: number;
  /** Index = id; the first four are <pad>, <unk>, <bos>, <eos>. */
  vocab: string[];
}

export class WordTokenizer extends BaseTokenizer {
  readonly kind = 'word-level';
  readonly contextLength: number;
  readonly padTokenId = 0;
  readonly unkTokenId = 1;
  readonly bosTokenId = 2;
  readonly eosTokenId = 3;
  private readonly ids: Map<string, number>;

  constructor(readonly vocab: readonly string[], contextLength = CLIP_CONTEXT_LENGTH) {
    super();
    const specials = [WORD_SPECIALS.pad, WORD_SPECIALS.unk, WORD_SPECIALS.bos, WORD_SPECIALS.eos];
    if (specials.some((s, i) => vocab[i] !== s)) throw new ArgumentError(`WordTokenizer: the vocab must start with ${specials.join(', ')}, got ${vocab.slice(0, 4).join(', ')}`);
    this.ids = new Map();
    vocab.forEach((w, i) => {
      if (this.ids.has(w)) throw new ArgumentError(`WordTokenizer: '${w}' appears twice in the vocab (ids ${this.ids.get(w)} and ${i})`);
      this.ids.set(w, i);
    });
    this.contextLength = contextLength;
  }

  /** Builds the vocab from prompts: most frequent first, ties in alphabetical order. */
  static fromCorpus(prompts: Iterable<string>, options: WordTokenizerBuildOptions = {}): WordTokenizer {
    const minFrequency = options.minFrequency ?? 1;
    const counts = new Map<string, number>();
    for (const p of prompts) for (const w of WordTokenizer.split(p)) counts.set(w, (counts.get(w) ?? 0) + 1);
    let words = [...counts].filter(([, c]) => c >= minFrequency).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([w]) => w);
    if (options.maxVocab !== undefined) words = words.slice(0, options.maxVocab);
    const specials = Object.values(WORD_SPECIALS) as string[];
    return new WordTokenizer([WORD_SPECIALS.pad, WORD_SPECIALS.unk, WORD_SPECIALS.bos, WORD_SPECIALS.eos, ...words.filter((w) => !specials.includes(w))], options.contextLength);
  }

  static split(text: string): string[] {
    return Array.from(clipClean(text).matchAll(CLIP_PATTERN), (m) => m[0]);
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  tokenize(text: string): string[] {
    return WordTokenizer.split(text).map((w) => (this.ids.has(w) ? w : WORD_SPECIALS.unk));
  }

  protected tokenIds(text: string): number[] {
    return WordTokenizer.split(text).map((w) => this.ids.get(w) ?? this.unkTokenId);
  }

  decode(ids: readonly number[]): string {
    return ids.filter((i) => i !== this.padTokenId && i !== this.bosTokenId && i !== this.eosTokenId).map((i) => {
      const w = this.vocab[i];
      if (w === undefined) throw new ArgumentError(`WordTokenizer.decode: id ${i} is not in the vocab (size ${this.vocabSize})`);
      return w;
    }).join(' ');
  }

  toJSON(): WordTokenizerJson {
    return { type: 'word-level', version: 1, contextLength: this.contextLength, vocab: [...this.vocab] };
  }

  static fromJSON(json: unknown): WordTokenizer {
    const j = json as Partial<WordTokenizerJson>;
    if (!j || j.type !== 'word-level' || j.version !== 1 || !Array.isArray(j.vocab) || typeof j.contextLength !== 'number') {
      throw new ArgumentError('WordTokenizer.fromJSON: expected {type: "word-level", version: 1, contextLength, vocab: [...]}');
    }
    return new WordTokenizer(j.vocab, j.contextLength);
  }

  /** Writes the JSON atomically (a crash never leaves a half file over an existing one). */
  async save(path: string): Promise<void> {
    await writeFileAtomic(path, new TextEncoder().encode(`${JSON.stringify(this.toJSON(), null, 1)}\n`));
  }

  static load(path: string): WordTokenizer {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new ArgumentError(`WordTokenizer.load: cannot read ${path}: ${(e as Error).message}`);
    }
    return WordTokenizer.fromJSON(json);
  }
}
