/**
 * The tokenizer interface every text encoder input goes through, and the batching both
 * tokenizers share: [BOS] tokens [EOS], truncated to the context length keeping EOS last,
 * padded to it (Stable Diffusion always pads to 77: `padding="max_length"`).
 */
import { ArgumentError } from '../../core/errors.ts';
import { tensor } from '../../core/ops/creation.ts';
import type { Backend } from '../../core/backend.ts';
import type { Tensor } from '../../core/tensor.ts';

/** CLIP's context: 77 tokens, BOS and EOS included. */
export const CLIP_CONTEXT_LENGTH = 77;

export interface BatchEncoding {
  /** [N][contextLength] token ids. */
  inputIds: number[][];
  /** [N][contextLength]: 1 on BOS, text and EOS, 0 on padding. */
  attentionMask: number[][];
}

export interface EncodeBatchOptions {
  /** Default: the tokenizer's contextLength (77). */
  maxLength?: number;
}

export interface Tokenizer {
  /** `clip-bpe` or `word-level`. */
  readonly kind: string;
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  readonly padTokenId: number;
  /** Text -> tokens (strings), without BOS/EOS. */
  tokenize(text: string): string[];
  /** Text -> ids: [BOS] tokens [EOS], neither truncated nor padded. */
  encode(text: string): number[];
  /** Ids -> text (special tokens dropped). */
  decode(ids: readonly number[]): string;
  /** Texts -> fixed-length ids and attention masks. */
  encodeBatch(texts: readonly string[], options?: EncodeBatchOptions): BatchEncoding;
  /** Texts -> an [N, contextLength] id tensor (what the text encoder takes). */
  toTensor(texts: readonly string[], options?: EncodeBatchOptions & { backend?: Backend }): Tensor;
}

/** [BOS] ids [EOS] truncated to maxLength (EOS kept last) and padded with padId. */
export function padAndTruncate(ids: readonly number[], maxLength: number, bos: number, eos: number, padId: number): { ids: number[]; mask: number[] } {
  if (!Number.isInteger(maxLength) || maxLength < 2) throw new ArgumentError(`tokenizer: maxLength must be an integer >= 2 (room for BOS and EOS), got ${maxLength}`);
  const body = ids.slice(0, maxLength - 2);
  const out = [bos, ...body, eos];
  const mask = out.map(() => 1);
  while (out.length < maxLength) {
    out.push(padId);
    mask.push(0);
  }
  return { ids: out, mask };
}

/** Shared implementation of encodeBatch / toTensor over `tokenIds(text)` (ids without specials). */
export abstract class BaseTokenizer implements Tokenizer {
  abstract readonly kind: string;
  abstract readonly vocabSize: number;
  abstract readonly contextLength: number;
  abstract readonly bosTokenId: number;
  abstract readonly eosTokenId: number;
  abstract readonly padTokenId: number;
  abstract tokenize(text: string): string[];
  abstract decode(ids: readonly number[]): string;
  /** Ids of the text's tokens, no specials. */
  protected abstract tokenIds(text: string): number[];

  encode(text: string): number[] {
    return [this.bosTokenId, ...this.tokenIds(text), this.eosTokenId];
  }

  encodeBatch(texts: readonly string[], options: EncodeBatchOptions = {}): BatchEncoding {
    if (!Array.isArray(texts)) throw new ArgumentError(`${this.kind} tokenizer: encodeBatch takes an array of strings`);
    const maxLength = options.maxLength ?? this.contextLength;
    const inputIds: number[][] = [];
    const attentionMask: number[][] = [];
    for (const t of texts) {
      if (typeof t !== 'string') throw new ArgumentError(`${this.kind} tokenizer: every prompt must be a string, got ${typeof t}`);
      const { ids, mask } = padAndTruncate(this.tokenIds(t), maxLength, this.bosTokenId, this.eosTokenId, this.padTokenId);
      inputIds.push(ids);
      attentionMask.push(mask);
    }
    return { inputIds, attentionMask };
  }

  toTensor(texts: readonly string[], options: EncodeBatchOptions & { backend?: Backend } = {}): Tensor {
    const { inputIds } = this.encodeBatch(texts, options);
    const length = options.maxLength ?? this.contextLength;
    return tensor(inputIds.flat(), [texts.length, length], { backend: options.backend });
  }
}

/** CLIP's pre-tokenisation: the contractions, letter runs, single digits, runs of other non-space characters. */
export const CLIP_PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/** CLIP's text cleaning without ftfy (as HF's fallback): NFC, collapse whitespace, trim, lowercase. */
export function clipClean(text: string): string {
  return text.normalize('NFC').replace(/\s+/g, ' ').trim().toLowerCase();
}
