/**
 * Prompts -> text context for the UNet and ControlNet: tokenise, run the (frozen) text
 * encoder without recording gradients. Shared by the training step and the pipeline.
 */
import { ArgumentError, type Backend, type DiffusionTextEncoder, type Tensor, noGrad } from '../../core/index.ts';

/** The part of a tokenizer the diffusion blocks use (both tokenizers of plugins/text-encoder fit). */
export interface PromptTokenizer {
  toTensor(texts: readonly string[], options?: { backend?: Backend }): Tensor;
}

/** [N] prompts -> [N, contextLength, hiddenSize] context, detached (the text encoder stays frozen). */
export function encodePrompts(textEncoder: DiffusionTextEncoder, tokenizer: PromptTokenizer, prompts: readonly string[], backend?: Backend): Tensor {
  if (!Array.isArray(prompts) || prompts.length === 0) throw new ArgumentError('encodePrompts: need a non-empty array of prompts');
  return noGrad(() => textEncoder.forward(tokenizer.toTensor(prompts, { backend })).detach());
}
