/**
 * The sampling pipeline as a plugin: `register(container, { tokenizer, schedulerConfig, ... })`
 * puts a DiffusionPipeline under TOKENS.Sampler (named by `name`, default 'controlnet'), built
 * on first resolve from what the container holds: TOKENS.VAE, UNet, TextEncoder, every
 * NoiseScheduler and, when registered, the ControlNet. The tokenizer has no token of its own:
 * the options describe it (see TokenizerOptions; file paths resolve against the recipe's folder).
 */
import { type AnyContainer, checkOptionKeys, provide, resolveEvery, resolveOne, resolveOptional } from '../../core/plugins/any-container.ts';
import type { PluginContext } from '../../core/plugins/recipe.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { type TokenizerOptions, tokenizerFromOptions } from '../text-encoder/tokenizer-options.ts';
import { DiffusionPipeline, type DiffusionPipelineOptions } from './pipeline.ts';

/** JSON options of the pipeline plugin. */
export interface DiffusionPluginOptions extends DiffusionPipelineOptions {
  tokenizer: TokenizerOptions;
}

const KNOWN = ['tokenizer', 'schedulerConfig', 'schedulerOverrides', 'defaultScheduler', 'conditionRange', 'name'];

export function register(container: AnyContainer, options: DiffusionPluginOptions, context?: PluginContext): void {
  checkOptionKeys('plugins/diffusion', options, KNOWN);
  const { tokenizer: tokenizerOptions, ...pipelineOptions } = options;
  // Read now, so a missing vocabulary file fails when the recipe is built, not at the first sample.
  const tokenizer = tokenizerFromOptions(tokenizerOptions, context?.baseDir);
  provide(container, TOKENS.Sampler, options.name ?? 'controlnet', (c) => new DiffusionPipeline({
    vae: resolveOne(c, TOKENS.VAE),
    unet: resolveOne(c, TOKENS.UNet),
    textEncoder: resolveOne(c, TOKENS.TextEncoder),
    tokenizer,
    controlnet: resolveOptional(c, TOKENS.ControlNet) ?? null,
    schedulers: resolveEvery(c, TOKENS.NoiseScheduler),
  }, pipelineOptions));
}
