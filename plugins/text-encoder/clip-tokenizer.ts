/**
 * CLIP's byte-level BPE tokenizer (openai's simple_tokenizer, HF CLIPTokenizer), loaded from
 * a user's vocab.json + merges.txt (those of openai/clip-vit-large-patch14, which SD1.5 uses).
 * Text is cleaned (whitespace collapsed, lowercased; ftfy's mojibake repair is not done),
 * split by CLIP_PATTERN, each piece's UTF-8 bytes mapped to printable characters
 * (bytes_to_unicode), the last character marked with `</w>`, and BPE merges applied in rank
 * order. Tokens absent from the vocab map to the unknown token `<|endoftext|>` (as in HF).
 */
import { readFileSync } from 'node:fs';
import { ArgumentError } from '../../core/errors.ts';
import { BaseTokenizer, CLIP_CONTEXT_LENGTH, CLIP_PATTERN, clipClean } from './tokenizer.ts';

export const CLIP_BOS = '<|startoftext|>';
export const CLIP_EOS = '<|endoftext|>';
const END_OF_WORD = '</w>';

/** GPT-2/CLIP's reversible byte -> printable character table. */
export function bytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = '!'.charCodeAt(0); b <= '~'.charCodeAt(0); b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  return new Map(bs.map((b, i) => [b, String.fromCharCode(cs[i]!)]));
}

export interface ClipTokenizerOptions {
  contextLength?: number;
  /** Padding token (default `<|endoftext|>`, as SD1.5's tokenizer pads). */
  padToken?: string;
}

export class ClipTokenizer extends BaseTokenizer {
  readonly kind = 'clip-bpe';
  readonly contextLength: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: Map<number, string>;
  private readonly ranks: Map<string, number>;
  private readonly byteEncoder = bytesToUnicode();
  private readonly byteDecoder: Map<string, number>;
  private readonly cache = new Map<string, string[]>();

  /** vocab: token -> id (vocab.json); merges: merges.txt lines, `#version` header allowed. */
  constructor(vocab: Readonly<Record<string, number>>, merges: readonly string[] | string, options: ClipTokenizerOptions = {}) {
    super();
    this.encoder = new Map(Object.entries(vocab));
    this.decoder = new Map([...this.encoder].map(([t, i]) => [i, t]));
    const lines = typeof merges === 'string' ? merges.split(/\r?\n/) : merges;
    this.ranks = new Map();
    lines.forEach((line) => {
      const l = line.trim();
      if (l === '' || l.startsWith('#version')) return;
      const parts = l.split(' ');
      if (parts.length !== 2) throw new ArgumentError(`ClipTokenizer: merges line ${JSON.stringify(line)} is not two symbols separated by one space`);
      if (!this.ranks.has(l)) this.ranks.set(l, this.ranks.size);
    });
    const id = (t: string) => {
      const v = this.encoder.get(t);
      if (v === undefined) throw new ArgumentError(`ClipTokenizer: the vocab has no ${t} token`);
      return v;
    };
    this.bosTokenId = id(CLIP_BOS);
    this.eosTokenId = id(CLIP_EOS);
    this.padTokenId = id(options.padToken ?? CLIP_EOS);
    this.contextLength = options.contextLength ?? CLIP_CONTEXT_LENGTH;
    this.byteDecoder = new Map([...this.byteEncoder].map(([b, c]) => [c, b]));
  }

  /** Reads vocab.json and merges.txt from disk. */
  static fromFiles(vocabPath: string, mergesPath: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
    let vocab: Record<string, number>;
    try {
      vocab = JSON.parse(readFileSync(vocabPath, 'utf8')) as Record<string, number>;
    } catch (e) {
      throw new ArgumentError(`ClipTokenizer.fromFiles: cannot read vocab ${vocabPath}: ${(e as Error).message}`);
    }
    return new ClipTokenizer(vocab, readFileSync(mergesPath, 'utf8'), options);
  }

  get vocabSize(): number {
    return this.encoder.size;
  }

  /** BPE of one pre-tokenised, byte-encoded piece. */
  private bpe(piece: string): string[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    const chars = Array.from(piece);
    let word = [...chars.slice(0, -1), chars[chars.length - 1]! + END_OF_WORD];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      // merge every occurrence of the best pair, left to right (as openai's loop does)
      const first = word[best]!;
      const second = word[best + 1]!;
      const next: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i]!);
          i += 1;
        }
      }
      word = next;
    }
    this.cache.set(piece, word);
    return word;
  }

  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const m of clipClean(text).matchAll(CLIP_PATTERN)) {
      // special tokens written in the text stay whole (openai seeds its BPE cache with them)
      if (m[0] === CLIP_BOS || m[0] === CLIP_EOS) {
        out.push(m[0]);
        continue;
      }
      const bytes = new TextEncoder().encode(m[0]);
      const piece = Array.from(bytes, (b) => this.byteEncoder.get(b)!).join('');
      out.push(...this.bpe(piece));
    }
    return out;
  }

  protected tokenIds(text: string): number[] {
    return this.tokenize(text).map((t) => this.encoder.get(t) ?? this.eosTokenId);
  }

  decode(ids: readonly number[]): string {
    const special = new Set([this.bosTokenId, this.eosTokenId, this.padTokenId]);
    const text = ids.filter((i) => !special.has(i)).map((i) => {
      const t = this.decoder.get(i);
      if (t === undefined) throw new ArgumentError(`ClipTokenizer.decode: id ${i} is not in the vocab (size ${this.vocabSize})`);
      return t;
    }).join('');
    const bytes = Uint8Array.from(Array.from(text, (c) => this.byteDecoder.get(c) ?? 0x3f));
    return new TextDecoder().decode(bytes).replaceAll(END_OF_WORD, ' ').trim();
  }
}
