/**
 * The text-encoder plugin: `register(container, { preset, overrides, seed })` puts the CLIP text
 * encoder under TOKENS.TextEncoder as 'clip-text' (one instance per container, built on the
 * container's TOKENS.Backend when one is registered).
 */
import { type AnyContainer, checkOptionKeys, provide, resolveOptional } from '../../core/plugins/any-container.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import type { ClipTextConfig, ClipTextPreset } from './clip-config.ts';
import { ClipTextModel } from './clip-text-model.ts';

/** JSON options of the text-encoder plugin. */
export interface TextEncoderPluginOptions {
  /** A preset name or a whole config (default 'tiny'). */
  preset?: ClipTextPreset | ClipTextConfig;
  /** e.g. { vocabSize: tokenizer.vocabSize } for a word-level tokenizer. */
  overrides?: Partial<ClipTextConfig>;
  /** Seed of the initialisation (default 0). */
  seed?: number;
}

export function register(container: AnyContainer, options: TextEncoderPluginOptions = {}): void {
  checkOptionKeys('plugins/text-encoder', options, ['preset', 'overrides', 'seed']);
  const { preset = 'tiny', overrides = {}, seed } = options;
  provide(container, TOKENS.TextEncoder, 'clip-text', (c) => new ClipTextModel(preset, overrides, { seed, backend: resolveOptional(c, TOKENS.Backend) }));
}
