/** Text encoders (CLIP text transformer) and tokenizers (CLIP BPE, word-level). */
export { type Tokenizer, type BatchEncoding, type EncodeBatchOptions, BaseTokenizer, CLIP_CONTEXT_LENGTH, CLIP_PATTERN, clipClean, padAndTruncate } from './tokenizer.ts';
export { ClipTokenizer, bytesToUnicode, CLIP_BOS, CLIP_EOS, type ClipTokenizerOptions } from './clip-tokenizer.ts';
export { WordTokenizer, WORD_SPECIALS, type WordTokenizerBuildOptions, type WordTokenizerJson } from './word-tokenizer.ts';
export { type ClipTextConfig, type ClipTextPreset, type ClipActivation, CLIP_TEXT_PRESETS, resolveClipTextConfig, clipTextParameterShapes, countClipTextParameters } from './clip-config.ts';
export { ClipTextModel, ClipAttention, ClipMlp, ClipEncoderLayer, ClipTextEmbeddings, ClipEncoder, ClipTextTransformer, activate, type TextEncoder, type TextEncodeOptions, type ClipTextModelOptions } from './clip-text-model.ts';
export { clipTextStateDictFrom, LDM_TEXT_PREFIX } from './checkpoint-keys.ts';
export { register, type TextEncoderPluginOptions } from './plugin.ts';
export { tokenizerFromOptions, type TokenizerOptions } from './tokenizer-options.ts';
