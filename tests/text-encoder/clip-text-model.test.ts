import 'reflect-metadata';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { ReferenceBackend, type Tensor, assertGradcheck, init, randn, tensor } from '../../core/index.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import {
  CLIP_TEXT_PRESETS, type ClipTextConfig, ClipTextModel, WordTokenizer, activate, clipTextParameterShapes, clipTextStateDictFrom,
  countClipTextParameters, register as registerTextEncoderPlugin,
} from '../../plugins/text-encoder/index.ts';

const micro: ClipTextConfig = { vocabSize: 7, hiddenSize: 4, intermediateSize: 6, numLayers: 2, numHeads: 2, maxPositions: 5, activation: 'quick_gelu', layerNormEps: 1e-5 };

/** CLIP's text transformer in float64 loops, from the model's own weights. */
function clipByHand(model: ClipTextModel, ids: number[][], padMask?: number[][]): number[] {
  const c = model.config;
  const D = c.hiddenSize;
  const H = c.numHeads;
  const hd = D / H;
  const sd = model.stateDict();
  const w = (k: string) => Array.from(sd.get(k)!.toArray());
  const lin = (x: number[], W: number[], b: number[], inD: number, outD: number) => Array.from({ length: outD }, (_, o) => b[o]! + x.reduce((s, v, i) => s + v * W[o * inD + i]!, 0));
  const ln = (x: number[], g: number[], b: number[]) => {
    const m = x.reduce((s, v) => s + v, 0) / x.length;
    const v = x.reduce((s, u) => s + (u - m) ** 2, 0) / x.length;
    return x.map((u, i) => ((u - m) / Math.sqrt(v + c.layerNormEps)) * g[i]! + b[i]!);
  };
  const act = (u: number) => (c.activation === 'quick_gelu' ? u / (1 + Math.exp(-1.702 * u)) : 0);
  const out: number[] = [];
  ids.forEach((row, n) => {
    const L = row.length;
    const tok = w('text_model.embeddings.token_embedding.weight');
    const pos = w('text_model.embeddings.position_embedding.weight');
    let h = row.map((id, j) => Array.from({ length: D }, (_, d) => tok[id * D + d]! + pos[j * D + d]!));
    for (let l = 0; l < c.numLayers; l++) {
      const p = (k: string) => w(`text_model.encoder.layers.${l}.${k}`);
      const x1 = h.map((x) => ln(x, p('layer_norm1.weight'), p('layer_norm1.bias')));
      const q = x1.map((x) => lin(x, p('self_attn.q_proj.weight'), p('self_attn.q_proj.bias'), D, D));
      const k = x1.map((x) => lin(x, p('self_attn.k_proj.weight'), p('self_attn.k_proj.bias'), D, D));
      const v = x1.map((x) => lin(x, p('self_attn.v_proj.weight'), p('self_attn.v_proj.bias'), D, D));
      const att = q.map((qi, i) => {
        const o = new Array<number>(D).fill(0);
        for (let hh = 0; hh < H; hh++) {
          const allowed = Array.from({ length: L }, (_, j) => j <= i && (!padMask || padMask[n]![j] === 1));
          const s = Array.from({ length: L }, (_, j) => (allowed[j] ? Array.from({ length: hd }, (_, d) => qi[hh * hd + d]! * k[j]![hh * hd + d]!).reduce((a, b) => a + b, 0) / Math.sqrt(hd) : -Infinity));
          const m = Math.max(...s);
          const e = s.map((u) => Math.exp(u - m));
          const z = e.reduce((a, b) => a + b, 0);
          for (let d = 0; d < hd; d++) o[hh * hd + d] = e.reduce((acc, ej, j) => acc + (ej / z) * v[j]![hh * hd + d]!, 0);
        }
        return lin(o, p('self_attn.out_proj.weight'), p('self_attn.out_proj.bias'), D, D);
      });
      h = h.map((x, i) => x.map((u, d) => u + att[i]![d]!));
      h = h.map((x) => {
        const y = ln(x, p('layer_norm2.weight'), p('layer_norm2.bias'));
        const f = lin(y, p('mlp.fc1.weight'), p('mlp.fc1.bias'), D, c.intermediateSize).map(act);
        const g = lin(f, p('mlp.fc2.weight'), p('mlp.fc2.bias'), c.intermediateSize, D);
        return x.map((u, d) => u + g[d]!);
      });
    }
    for (const x of h) out.push(...ln(x, w('text_model.final_layer_norm.weight'), w('text_model.final_layer_norm.bias')));
  });
  return out;
}

/** Non-trivial biases and norm affines (the init sets them to 0 and 1, which hides mistakes). */
function perturb(model: ClipTextModel, seed: number): void {
  let s = seed;
  for (const [n, p] of model.namedParameters()) if (n.endsWith('bias') || n.includes('norm')) init.normal_(p, n.endsWith('weight') ? 1 : 0, 0.3, { seed: s++ });
}

describe('ClipTextModel', () => {
  it('sd15 preset: HF key names and 123,060,480 parameters in 196 tensors (counted from the config)', () => {
    const shapes = clipTextParameterShapes(CLIP_TEXT_PRESETS.sd15);
    expect(countClipTextParameters(CLIP_TEXT_PRESETS.sd15)).toBe(123_060_480);
    expect(shapes).toHaveLength(196);
    const keys = new Map(shapes);
    expect(keys.get('text_model.embeddings.token_embedding.weight')).toEqual([49408, 768]);
    expect(keys.get('text_model.embeddings.position_embedding.weight')).toEqual([77, 768]);
    expect(keys.get('text_model.encoder.layers.11.self_attn.out_proj.bias')).toEqual([768]);
    expect(keys.get('text_model.encoder.layers.0.mlp.fc1.weight')).toEqual([3072, 768]);
    expect(keys.get('text_model.final_layer_norm.weight')).toEqual([768]);
  });

  it('tiny preset: the built module has exactly the keys and shapes the config implies', () => {
    const model = new ClipTextModel('tiny', { vocabSize: 50 });
    const built = [...model.stateDict()].map(([k, t]) => [k, [...t.shape]]);
    expect(built).toEqual(clipTextParameterShapes({ ...CLIP_TEXT_PRESETS.tiny, vocabSize: 50 }));
    expect(model.numParameters().total).toBe(countClipTextParameters({ ...CLIP_TEXT_PRESETS.tiny, vocabSize: 50 }));
    expect(model.forward(tensor([[1, 2, 3, 0]])).shape).toEqual([1, 4, 32]);
  });

  it('initialises like HF CLIP: normal(0.02) embeddings, zero biases, unit norms, seeded', () => {
    const model = new ClipTextModel('tiny', { vocabSize: 200 }, { seed: 3 });
    const tok = Array.from(model.text_model.embeddings.token_embedding.weight.toArray());
    const std = Math.sqrt(tok.reduce((s, v) => s + v * v, 0) / tok.length);
    expect(std).toBeGreaterThan(0.018);
    expect(std).toBeLessThan(0.022);
    expect(Array.from(model.text_model.encoder.layers.at(0).mlp.fc1.bias!.toArray()).every((v) => v === 0)).toBe(true);
    expect(Array.from(model.text_model.final_layer_norm.weight!.toArray()).every((v) => v === 1)).toBe(true);
    const again = new ClipTextModel('tiny', { vocabSize: 200 }, { seed: 3 });
    expect(Array.from(again.text_model.encoder.layers.at(1).self_attn.q_proj.weight.toArray())).toEqual(Array.from(model.text_model.encoder.layers.at(1).self_attn.q_proj.weight.toArray()));
  });

  it('matches a float64 by-hand CLIP forward (quick_gelu, causal mask, padding mask)', () => {
    const model = new ClipTextModel(micro, {}, { seed: 1 });
    perturb(model, 10);
    for (const [n, p] of model.namedParameters()) if (n.includes('proj.weight') || n.includes('fc')) init.normal_(p, 0, 0.6, { seed: n.length });
    const ids = [[5, 1, 2, 6], [5, 3, 6, 6]];
    const got = Array.from(model.forward(tensor(ids)).toArray());
    clipByHand(model, ids).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 4));
    const pad = [[1, 1, 1, 1], [1, 1, 1, 0]];
    const masked = Array.from(model.forward(tensor(ids), { attentionMask: tensor(pad) }).toArray());
    clipByHand(model, ids, pad).forEach((v, i) => expect(masked[i]).toBeCloseTo(v, 4));
  });

  it('is causal: a token never changes the outputs before it', () => {
    const model = new ClipTextModel(micro, {}, { seed: 2 });
    perturb(model, 20);
    const a = model.forward(tensor([[1, 2, 3, 4, 5]])).toArray();
    const b = model.forward(tensor([[1, 2, 6, 0, 5]])).toArray();
    expect(Array.from(a.slice(0, 8))).toEqual(Array.from(b.slice(0, 8)));
    expect(Math.max(...Array.from(a.slice(8, 12), (v, i) => Math.abs(v - b[8 + i]!)))).toBeGreaterThan(1e-3);
  });

  it('quick_gelu and gelu activations', () => {
    const x = tensor([-1, 0, 1, 2]);
    const q = Array.from(activate(x, 'quick_gelu').toArray());
    [-1, 0, 1, 2].forEach((u, i) => expect(q[i]).toBeCloseTo(u / (1 + Math.exp(-1.702 * u)), 6));
    expect(activate(x, 'gelu').toArray()[2]).toBeCloseTo(0.8413447, 6);
    const m1 = new ClipTextModel(micro, { activation: 'gelu' }, { seed: 4 });
    const m2 = new ClipTextModel(micro, {}, { seed: 4 });
    const ids = tensor([[1, 2, 3]]);
    expect(Array.from(m1.forward(ids).toArray())).not.toEqual(Array.from(m2.forward(ids).toArray()));
  });

  it('pooled output is the hidden state at the first EOS; rejects too-long input', () => {
    const tok = WordTokenizer.fromCorpus(['upper teeth front view', 'lower teeth'], { contextLength: 5 });
    const model = new ClipTextModel(micro, { vocabSize: tok.vocabSize }, { seed: 5 });
    const ids = tok.toTensor(['lower teeth', 'upper']);
    const h = model.forward(ids);
    const pooled = model.pooled(h, ids, tok.eosTokenId).toArray();
    const hv = h.toArray();
    // row 0: <bos> lower teeth <eos> <pad> -> position 3; row 1: <bos> upper <eos> -> position 2
    expect(Array.from(pooled.slice(0, 4))).toEqual(Array.from(hv.slice(3 * 4, 4 * 4)));
    expect(Array.from(pooled.slice(4))).toEqual(Array.from(hv.slice(5 * 4 + 2 * 4, 5 * 4 + 3 * 4)));
    expect(() => model.forward(tensor([[1, 2, 3, 4, 5, 6]]))).toThrow(/6 tokens exceed the context of 5/);
  });
});

describe('ClipTextModel gradients (float64 finite differences)', () => {
  const f64 = new ReferenceBackend({ precision: 'float64' });
  const model = new ClipTextModel({ ...micro, numLayers: 1 }, {}, { seed: 6, backend: f64 });
  perturb(model, 30);
  const ids = tensor([[1, 4, 2], [3, 0, 6]], { backend: f64 });

  it('with respect to the hidden states entering the encoder', () => {
    assertGradcheck((h) => model.forwardHidden(h!, { attentionMask: tensor([[1, 1, 1], [1, 1, 0]], { backend: f64 }) }), [randn([2, 3, 4], { seed: 1, backend: f64 })]);
  });

  it('with respect to embeddings, attention, MLP and norm parameters', () => {
    const t = model.text_model;
    const layer = t.encoder.layers.at(0);
    const slots: [object, 'weight' | 'bias'][] = [
      [t.embeddings.token_embedding, 'weight'], [t.embeddings.position_embedding, 'weight'], [layer.self_attn.q_proj, 'weight'],
      [layer.self_attn.v_proj, 'bias'], [layer.mlp.fc1, 'weight'], [layer.mlp.fc2, 'bias'], [layer.layer_norm1, 'weight'], [t.final_layer_norm, 'bias'],
    ];
    const originals = slots.map(([m, k]) => (m as Record<string, Tensor>)[k]!);
    try {
      assertGradcheck((...ps) => {
        slots.forEach(([m, k], i) => ((m as Record<string, Tensor>)[k] = ps[i]!));
        return model.forward(ids);
      }, originals);
    } finally {
      slots.forEach(([m, k], i) => ((m as Record<string, Tensor>)[k] = originals[i]!));
    }
  });
});

describe('text encoder plugin and checkpoint keys', () => {
  it('registers one ClipTextModel under TOKENS.TextEncoder', () => {
    const child = container.createChildContainer();
    registerTextEncoderPlugin(child, { preset: micro, seed: 1 });
    const a = child.resolve(TOKENS.TextEncoder) as ClipTextModel;
    expect(a).toBeInstanceOf(ClipTextModel);
    expect(child.resolve(TOKENS.TextEncoder)).toBe(a);
    expect(a.hiddenSize).toBe(4);
  });

  it('translates LDM / older-transformers keys and drops position_ids', () => {
    const model = new ClipTextModel(micro, {}, { seed: 7 });
    const ldm = new Map<string, Tensor>();
    for (const [k, t] of model.stateDict()) ldm.set(`cond_stage_model.transformer.${k.slice('text_model.'.length)}`, t);
    ldm.set('cond_stage_model.transformer.embeddings.position_ids', tensor([[0, 1, 2, 3, 4]]));
    ldm.set('model.diffusion_model.conv_in.weight', tensor([1]));
    const translated = clipTextStateDictFrom(ldm);
    expect([...translated.keys()]).toEqual([...model.stateDict().keys()]);
    const other = new ClipTextModel(micro, {}, { seed: 8 });
    other.loadStateDict(translated);
    expect(Array.from(other.forward(tensor([[1, 2]])).toArray())).toEqual(Array.from(model.forward(tensor([[1, 2]])).toArray()));
    const hf = new Map(model.stateDict());
    hf.set('text_model.embeddings.position_ids', tensor([[0, 1, 2, 3, 4]]));
    expect([...clipTextStateDictFrom(hf).keys()]).toEqual([...model.stateDict().keys()]);
  });
});
