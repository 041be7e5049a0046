/** Text encoders (CLIP text transformer) and tokenizers (CLIP BPE, word-level). */
export { type Tokenizer, type BatchEncoding, type EncodeBatchOptions, BaseTokenizer, CLIP_CONTEXT_LENGTH, CLIP_PATTERN, clipClean, padAndTruncate } from './tokenizer.ts';
export { ClipTokenizer, bytesToUnicode, CLIP_BOS, CLIP_EOS, type ClipTokenizerOptions } from './clip-tokenizer.ts';
export { WordTokenizer, WORD_SPECIALS, type WordTokenizerBuildOptions, type WordTokenizerJson } from './word-tokenizer.ts';
