/** Registers the CLIP text encoder under TOKENS.TextEncoder (one instance per container). */
import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../core/plugins/tokens.ts';
import type { ClipTextConfig, ClipTextPreset } from './clip-config.ts';
import { ClipTextModel, type ClipTextModelOptions } from './clip-text-model.ts';

export interface TextEncoderPluginOptions extends ClipTextModelOptions {
  preset?: ClipTextPreset | ClipTextConfig;
  /** e.g. { vocabSize: tokenizer.vocabSize } for a word-level tokenizer. */
  overrides?: Partial<ClipTextConfig>;
}

export function registerTextEncoderPlugin(container: DependencyContainer, options: TextEncoderPluginOptions = {}): void {
  // Built on first resolve, then shared (tsyringe's instanceCachingFactory, written out so this
  // module needs no value import from tsyringe and thus no reflect polyfill of its own).
  let instance: ClipTextModel | null = null;
  container.register(TOKENS.TextEncoder, {
    useFactory: () => (instance ??= new ClipTextModel(options.preset ?? 'tiny', options.overrides ?? {}, options)),
  });
}
