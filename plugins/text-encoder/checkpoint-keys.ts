/**
 * Key translation for text-encoder checkpoints a user may have: diffusers' SD1.5
 * `text_encoder/model.safetensors` (already our names, maybe with the `position_ids`
 * buffer older transformers saved), and LDM / CtrLoRA full checkpoints whose text encoder
 * lives under `cond_stage_model.transformer.` (with or without the `text_model.` level,
 * depending on the transformers version that wrote them).
 */
import type { Tensor } from '../../core/tensor.ts';

export const LDM_TEXT_PREFIX = 'cond_stage_model.transformer.';

/** Picks and renames the text-encoder tensors of a checkpoint into ClipTextModel's keys. */
export function clipTextStateDictFrom(state: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  const hasLdm = [...state.keys()].some((k) => k.startsWith(LDM_TEXT_PREFIX));
  const out = new Map<string, Tensor>();
  for (const [key, t] of state) {
    let k = key;
    if (hasLdm) {
      if (!k.startsWith(LDM_TEXT_PREFIX)) continue;
      k = k.slice(LDM_TEXT_PREFIX.length);
    }
    if (!k.startsWith('text_model.')) k = `text_model.${k}`;
    if (k.endsWith('.position_ids')) continue; // a buffer of arange(77), rebuilt on the fly here
    out.set(k, t);
  }
  return out;
}
