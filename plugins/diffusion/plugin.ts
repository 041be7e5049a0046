/**
 * Registers the sampling pipeline under TOKENS.Sampler, built from what the container holds:
 * TOKENS.VAE, UNet, TextEncoder, NoiseScheduler (all registered kinds) and, when registered,
 * ControlNet. The tokenizer has no token of its own and comes with the registration.
 */
import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { DiffusionPipeline, type DiffusionPipelineOptions } from './pipeline.ts';
import type { PromptTokenizer } from './text.ts';

export interface DiffusionPipelineRegistration extends DiffusionPipelineOptions {
  tokenizer: PromptTokenizer;
}

export function registerDiffusionPipeline(container: DependencyContainer, registration: DiffusionPipelineRegistration): void {
  let instance: DiffusionPipeline | null = null;
  const { tokenizer, ...options } = registration;
  container.register(TOKENS.Sampler, {
    useFactory: (c) => (instance ??= new DiffusionPipeline({
      vae: c.resolve(TOKENS.VAE),
      unet: c.resolve(TOKENS.UNet),
      textEncoder: c.resolve(TOKENS.TextEncoder),
      tokenizer,
      controlnet: c.isRegistered(TOKENS.ControlNet, true) ? c.resolve(TOKENS.ControlNet) : null,
      schedulers: c.resolveAll(TOKENS.NoiseScheduler),
    }, options)),
  });
}
