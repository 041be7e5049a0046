/**
 * CLIP text transformer configuration (HF CLIPTextConfig's fields that shape the model),
 * its presets, and the parameter list a config implies — computed without building the
 * model, so the sd15 preset's 123,060,480 parameters can be checked without allocating them.
 */
import { ArgumentError } from '../../core/errors.ts';

export type ClipActivation = 'quick_gelu' | 'gelu';

export interface ClipTextConfig {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  /** Positions (the context length, 77 for CLIP). */
  maxPositions: number;
  /** CLIP ViT-L/14's text tower uses quick_gelu (x * sigmoid(1.702 x)); OpenCLIP models use gelu. */
  activation: ClipActivation;
  layerNormEps: number;
}

export type ClipTextPreset = 'sd15' | 'tiny';

export const CLIP_TEXT_PRESETS: Record<ClipTextPreset, ClipTextConfig> = {
  /** openai/clip-vit-large-patch14's text model, SD1.5's text_encoder. */
  sd15: { vocabSize: 49408, hiddenSize: 768, intermediateSize: 3072, numLayers: 12, numHeads: 12, maxPositions: 77, activation: 'quick_gelu', layerNormEps: 1e-5 },
  /** For this machine: tests and the dental example (set vocabSize from the tokenizer). */
  tiny: { vocabSize: 1024, hiddenSize: 32, intermediateSize: 64, numLayers: 2, numHeads: 2, maxPositions: 77, activation: 'quick_gelu', layerNormEps: 1e-5 },
};

export function resolveClipTextConfig(preset: ClipTextPreset | ClipTextConfig, overrides: Partial<ClipTextConfig> = {}): ClipTextConfig {
  const base = typeof preset === 'string' ? CLIP_TEXT_PRESETS[preset] : preset;
  if (!base) throw new ArgumentError(`ClipTextModel: unknown preset ${JSON.stringify(preset)} (sd15, tiny)`);
  const c = { ...base, ...overrides };
  for (const k of ['vocabSize', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'maxPositions'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new ArgumentError(`ClipTextModel: ${k} must be an integer >= 1, got ${c[k]}`);
  }
  if (c.hiddenSize % c.numHeads !== 0) throw new ArgumentError(`ClipTextModel: numHeads ${c.numHeads} must divide hiddenSize ${c.hiddenSize}`);
  if (c.activation !== 'quick_gelu' && c.activation !== 'gelu') throw new ArgumentError(`ClipTextModel: activation must be 'quick_gelu' or 'gelu', got ${JSON.stringify(c.activation)}`);
  return c;
}

/** Every parameter's HF key and shape, in the model's state-dict order. */
export function clipTextParameterShapes(config: ClipTextConfig): [string, number[]][] {
  const { vocabSize: V, hiddenSize: D, intermediateSize: F, numLayers, maxPositions: P } = config;
  const out: [string, number[]][] = [
    ['text_model.embeddings.token_embedding.weight', [V, D]],
    ['text_model.embeddings.position_embedding.weight', [P, D]],
  ];
  for (let i = 0; i < numLayers; i++) {
    const l = `text_model.encoder.layers.${i}`;
    // HF CLIPAttention registers k, v, q, out in that order
    for (const p of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) out.push([`${l}.self_attn.${p}.weight`, [D, D]], [`${l}.self_attn.${p}.bias`, [D]]);
    out.push([`${l}.layer_norm1.weight`, [D]], [`${l}.layer_norm1.bias`, [D]]);
    out.push([`${l}.mlp.fc1.weight`, [F, D]], [`${l}.mlp.fc1.bias`, [F]], [`${l}.mlp.fc2.weight`, [D, F]], [`${l}.mlp.fc2.bias`, [D]]);
    out.push([`${l}.layer_norm2.weight`, [D]], [`${l}.layer_norm2.bias`, [D]]);
  }
  out.push(['text_model.final_layer_norm.weight', [D]], ['text_model.final_layer_norm.bias', [D]]);
  return out;
}

export function countClipTextParameters(config: ClipTextConfig): number {
  return clipTextParameterShapes(config).reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
}
