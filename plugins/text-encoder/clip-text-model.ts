/**
 * CLIP's text transformer (HF CLIPTextModel) with its state-dict key names, so a user's
 * text_encoder/model.safetensors from SD1.5 loads key for key:
 * token + position embeddings -> pre-LN encoder layers (causal self-attention, MLP with
 * quick_gelu) -> final layer norm. Stable Diffusion conditions on last_hidden_state [N, 77, D].
 */
import { ArgumentError, ShapeError, fmtShape } from '../../core/errors.ts';
import { Module } from '../../core/nn/module.ts';
import * as init from '../../core/nn/init.ts';
import { Embedding } from '../../core/nn/layers/embedding.ts';
import { Linear } from '../../core/nn/layers/linear.ts';
import { LayerNorm } from '../../core/nn/layers/norm.ts';
import { ModuleList } from '../../core/nn/layers/containers.ts';
import { scaledDotProductAttention } from '../../core/nn/functional.ts';
import { arange, tensor } from '../../core/ops/creation.ts';
import { concat } from '../../core/ops/concat.ts';
import type { Backend } from '../../core/backend.ts';
import { Generator } from '../../core/random.ts';
import type { Tensor } from '../../core/tensor.ts';
import { type ClipActivation, type ClipTextConfig, type ClipTextPreset, resolveClipTextConfig } from './clip-config.ts';

export interface ClipTextModelOptions {
  /** Seed of the initialisation (HF's CLIP init: normal draws with CLIP's stds). Default 0. */
  seed?: number;
  backend?: Backend;
}

export interface TextEncodeOptions {
  /** [N, L], 1 = real token, 0 = padding (SD passes none: padding is attended, as in the original). */
  attentionMask?: Tensor | null;
}

/** What TOKENS.TextEncoder resolves to: token ids [N, L] -> hidden states [N, L, hiddenSize]. */
export interface TextEncoder {
  readonly hiddenSize: number;
  readonly contextLength: number;
  readonly vocabSize: number;
  forward(inputIds: Tensor, options?: TextEncodeOptions): Tensor;
}

export function activate(x: Tensor, kind: ClipActivation): Tensor {
  return kind === 'quick_gelu' ? x.mul(x.mul(1.702).sigmoid()) : x.gelu('none');
}

export class ClipAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly out_proj: Linear;
  readonly headDim: number;

  constructor(readonly hiddenSize: number, readonly numHeads: number, backend?: Backend) {
    super();
    this.headDim = hiddenSize / numHeads;
    const lin = () => new Linear(hiddenSize, hiddenSize, { seed: 0, backend });
    this.k_proj = this.registerModule('k_proj', lin());
    this.v_proj = this.registerModule('v_proj', lin());
    this.q_proj = this.registerModule('q_proj', lin());
    this.out_proj = this.registerModule('out_proj', lin());
  }

  /** x [N, L, D]; mask broadcastable to [N, heads, L, L], nonzero = attend. */
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const [N, L, D] = x.shape as [number, number, number];
    const heads = (t: Tensor) => t.reshape([N, L, this.numHeads, this.headDim]).permute([0, 2, 1, 3]);
    const out = scaledDotProductAttention(heads(this.q_proj.forward(x)), heads(this.k_proj.forward(x)), heads(this.v_proj.forward(x)), { mask });
    return this.out_proj.forward(out.permute([0, 2, 1, 3]).reshape([N, L, D]));
  }
}

export class ClipMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(hiddenSize: number, intermediateSize: number, readonly activation: ClipActivation, backend?: Backend) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(hiddenSize, intermediateSize, { seed: 0, backend }));
    this.fc2 = this.registerModule('fc2', new Linear(intermediateSize, hiddenSize, { seed: 0, backend }));
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(activate(this.fc1.forward(x), this.activation));
  }
}

export class ClipEncoderLayer extends Module {
  readonly self_attn: ClipAttention;
  readonly layer_norm1: LayerNorm;
  readonly mlp: ClipMlp;
  readonly layer_norm2: LayerNorm;
  constructor(c: ClipTextConfig, backend?: Backend) {
    super();
    this.self_attn = this.registerModule('self_attn', new ClipAttention(c.hiddenSize, c.numHeads, backend));
    this.layer_norm1 = this.registerModule('layer_norm1', new LayerNorm(c.hiddenSize, { eps: c.layerNormEps, backend }));
    this.mlp = this.registerModule('mlp', new ClipMlp(c.hiddenSize, c.intermediateSize, c.activation, backend));
    this.layer_norm2 = this.registerModule('layer_norm2', new LayerNorm(c.hiddenSize, { eps: c.layerNormEps, backend }));
  }
  forward(x: Tensor, mask: Tensor | null): Tensor {
    const h = x.add(this.self_attn.forward(this.layer_norm1.forward(x), mask));
    return h.add(this.mlp.forward(this.layer_norm2.forward(h)));
  }
}

export class ClipTextEmbeddings extends Module {
  readonly token_embedding: Embedding;
  readonly position_embedding: Embedding;
  constructor(c: ClipTextConfig, backend?: Backend) {
    super();
    this.token_embedding = this.registerModule('token_embedding', new Embedding(c.vocabSize, c.hiddenSize, { seed: 0, backend }));
    this.position_embedding = this.registerModule('position_embedding', new Embedding(c.maxPositions, c.hiddenSize, { seed: 0, backend }));
  }
  forward(ids: Tensor): Tensor {
    const L = ids.shape[1]!;
    const positions = arange(L, undefined, 1, { backend: this.position_embedding.weight.backend });
    return this.token_embedding.forward(ids).add(this.position_embedding.forward(positions));
  }
}

export class ClipEncoder extends Module {
  readonly layers: ModuleList<ClipEncoderLayer>;
  constructor(c: ClipTextConfig, backend?: Backend) {
    super();
    this.layers = this.registerModule('layers', new ModuleList(Array.from({ length: c.numLayers }, () => new ClipEncoderLayer(c, backend))));
  }
}

export class ClipTextTransformer extends Module {
  readonly embeddings: ClipTextEmbeddings;
  readonly encoder: ClipEncoder;
  readonly final_layer_norm: LayerNorm;
  constructor(c: ClipTextConfig, backend?: Backend) {
    super();
    this.embeddings = this.registerModule('embeddings', new ClipTextEmbeddings(c, backend));
    this.encoder = this.registerModule('encoder', new ClipEncoder(c, backend));
    this.final_layer_norm = this.registerModule('final_layer_norm', new LayerNorm(c.hiddenSize, { eps: c.layerNormEps, backend }));
  }
}

/** HF CLIPTextModel: the root holds `text_model`, hence keys `text_model.encoder.layers.0...`. */
export class ClipTextModel extends Module implements TextEncoder {
  readonly config: ClipTextConfig;
  readonly text_model: ClipTextTransformer;

  constructor(preset: ClipTextPreset | ClipTextConfig = 'tiny', overrides: Partial<ClipTextConfig> = {}, options: ClipTextModelOptions = {}) {
    super();
    this.config = resolveClipTextConfig(preset, overrides);
    this.text_model = this.registerModule('text_model', new ClipTextTransformer(this.config, options.backend));
    this.initWeights(options.seed ?? 0);
  }

  get hiddenSize(): number {
    return this.config.hiddenSize;
  }
  get contextLength(): number {
    return this.config.maxPositions;
  }
  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /** HF CLIPPreTrainedModel._init_weights (factor 1), drawn from one seeded stream in module order. */
  private initWeights(seed: number): void {
    const g = new Generator(seed);
    const { hiddenSize: D, numLayers } = this.config;
    const emb = this.text_model.embeddings;
    init.normal_(emb.token_embedding.weight, 0, 0.02, { generator: g });
    init.normal_(emb.position_embedding.weight, 0, 0.02, { generator: g });
    const inProjStd = D ** -0.5 * (2 * numLayers) ** -0.5;
    const outProjStd = D ** -0.5;
    const fcStd = (2 * D) ** -0.5;
    for (const layer of this.text_model.encoder.layers) {
      const a = layer.self_attn;
      for (const [lin, std] of [[a.q_proj, inProjStd], [a.k_proj, inProjStd], [a.v_proj, inProjStd], [a.out_proj, outProjStd], [layer.mlp.fc1, fcStd], [layer.mlp.fc2, inProjStd]] as const) {
        init.normal_(lin.weight, 0, std, { generator: g });
        init.zeros_(lin.bias!);
      }
    }
  }

  /** The causal mask [L, L] (1 on and below the diagonal), combined with a padding mask when given. */
  attentionMask(N: number, L: number, padding: Tensor | null | undefined, backend: Backend): Tensor {
    const causal = tensor(Array.from({ length: L * L }, (_, k) => (k % L <= Math.floor(k / L) ? 1 : 0)), [L, L], { backend });
    if (!padding) return causal;
    if (padding.ndim !== 2 || padding.shape[0] !== N || padding.shape[1] !== L) {
      throw new ShapeError(`ClipTextModel: attentionMask must be [${N}, ${L}], got ${fmtShape(padding.shape)}`);
    }
    const pad = padding.backend === backend ? padding : tensor(padding.toArray(), padding.shape, { backend });
    return causal.mul(pad.reshape([N, 1, 1, L]));
  }

  /** Runs the encoder layers and final norm on hidden states [N, L, D] (embeddings already added). */
  forwardHidden(hidden: Tensor, options: TextEncodeOptions = {}): Tensor {
    const [N, L, D] = hidden.shape as [number, number, number];
    if (hidden.ndim !== 3 || D !== this.hiddenSize) throw new ShapeError(`ClipTextModel: hidden states must be [N, L, ${this.hiddenSize}], got ${fmtShape(hidden.shape)}`);
    const mask = this.attentionMask(N, L, options.attentionMask, hidden.backend);
    let h = hidden;
    for (const layer of this.text_model.encoder.layers) h = layer.forward(h, mask);
    return this.text_model.final_layer_norm.forward(h);
  }

  /** last_hidden_state [N, L, D] for token ids [N, L], L <= maxPositions (77). */
  forward(inputIds: Tensor, options: TextEncodeOptions = {}): Tensor {
    if (inputIds.ndim !== 2) throw new ShapeError(`ClipTextModel: input ids must be [N, L], got ${fmtShape(inputIds.shape)}`);
    const L = inputIds.shape[1]!;
    if (L > this.config.maxPositions) throw new ArgumentError(`ClipTextModel: ${L} tokens exceed the context of ${this.config.maxPositions}; truncate with the tokenizer`);
    const backend = this.text_model.embeddings.token_embedding.weight.backend;
    const ids = inputIds.backend === backend ? inputIds : tensor(inputIds.toArray(), inputIds.shape, { backend });
    return this.forwardHidden(this.text_model.embeddings.forward(ids), options);
  }

  /** CLIP's pooled output: each row's hidden state at its first EOS token. */
  pooled(lastHiddenState: Tensor, inputIds: Tensor, eosTokenId: number): Tensor {
    const [N, L] = inputIds.shape as [number, number];
    const ids = inputIds.toArray();
    const rows: Tensor[] = [];
    for (let n = 0; n < N; n++) {
      let at = -1;
      for (let j = 0; j < L; j++) if (ids[n * L + j] === eosTokenId) { at = j; break; }
      if (at < 0) throw new ArgumentError(`ClipTextModel.pooled: row ${n} has no EOS token (id ${eosTokenId})`);
      rows.push(lastHiddenState.select(0, n).select(0, at).reshape([1, this.hiddenSize]));
    }
    return concat(rows, 0);
  }
}
