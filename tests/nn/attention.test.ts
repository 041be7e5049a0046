import { describe, expect, it } from 'vitest';
import { Embedding, LayerNorm, MultiheadAttention, Tensor, concat, mseLoss, randn, tensor } from '../../core/index.ts';

/** Attention computed in float64 loops from the module's own weights. */
function attentionByHand(mha: MultiheadAttention, x: Tensor, ctx: Tensor, mask?: number[][]): number[] {
  const [B, Lq, E] = x.shape as [number, number, number];
  const Lk = ctx.shape[1]!;
  const C = ctx.shape[2]!;
  const H = mha.numHeads;
  const D = E / H;
  const X = x.toArray();
  const K = ctx.toArray();
  const lin = (inp: Float32Array, rows: number, inDim: number, w: Float32Array, b: Float32Array | null, outDim: number) => {
    const out = new Float64Array(rows * outDim);
    for (let r = 0; r < rows; r++) for (let o = 0; o < outDim; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inDim; i++) s += inp[r * inDim + i]! * w[o * inDim + i]!;
      out[r * outDim + o] = s;
    }
    return out;
  };
  const q = lin(X, B * Lq, E, mha.to_q.weight.toArray(), null, E);
  const k = lin(K, B * Lk, C, mha.to_k.weight.toArray(), null, E);
  const v = lin(K, B * Lk, C, mha.to_v.weight.toArray(), null, E);
  const merged = new Float32Array(B * Lq * E);
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < Lq; i++) {
    const scores = [];
    for (let j = 0; j < Lk; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += q[(b * Lq + i) * E + h * D + d]! * k[(b * Lk + j) * E + h * D + d]!;
      scores.push(mask && mask[i]![j] === 0 ? -Infinity : s / Math.sqrt(D));
    }
    const m = Math.max(...scores);
    const e = scores.map((s) => Math.exp(s - m));
    const z = e.reduce((a, c) => a + c, 0);
    for (let d = 0; d < D; d++) {
      let s = 0;
      for (let j = 0; j < Lk; j++) s += (e[j]! / z) * v[(b * Lk + j) * E + h * D + d]!;
      merged[(b * Lq + i) * E + h * D + d] = s;
    }
  }
  const proj = mha.to_out.at(0) as unknown as { weight: Tensor; bias: Tensor };
  return Array.from(lin(merged, B * Lq, E, proj.weight.toArray(), proj.bias.toArray(), E));
}

describe('MultiheadAttention', () => {
  it('self-attention matches a by-hand computation and uses diffusers names', () => {
    const mha = new MultiheadAttention(8, 2, { seed: 1 });
    expect([...mha.stateDict().keys()]).toEqual(['to_q.weight', 'to_k.weight', 'to_v.weight', 'to_out.0.weight', 'to_out.0.bias']);
    const x = randn([2, 3, 8], { seed: 2 });
    const y = mha.forward(x);
    expect(y.shape).toEqual([2, 3, 8]);
    const want = attentionByHand(mha, x, x);
    Array.from(y.toArray()).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
  });

  it('cross-attention with a mask ignores masked context positions', () => {
    const mha = new MultiheadAttention(8, 4, { contextDim: 6, seed: 3 });
    const x = randn([1, 2, 8], { seed: 4 });
    const ctx = randn([1, 3, 6], { seed: 5 });
    const maskRows = [[1, 1, 0], [1, 0, 0]];
    const mask = tensor([maskRows]).reshape([1, 1, 2, 3]);
    const y = mha.forward(x, ctx, { mask });
    const want = attentionByHand(mha, x, ctx, maskRows);
    Array.from(y.toArray()).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    // changing the masked-out last context position changes nothing
    const ctx2 = ctx.slice(1, 0, 2).reshape([1, 2, 6]);
    const changed = randn([1, 1, 6], { seed: 99 });
    const y2 = mha.forward(x, concat([ctx2, changed], 1), { mask });
    expect(Array.from(y2.toArray())).toEqual(Array.from(y.toArray()));
    // any nonzero attends, as documented (a float mask of 2s and -1s is the same mask)
    const y3 = mha.forward(x, ctx, { mask: tensor([[[[2, -1, 0], [0.5, 0, 0]]]]) });
    expect(Array.from(y3.toArray())).toEqual(Array.from(y.toArray()));
    // gradients flow to every projection
    mseLoss(y, randn([1, 2, 8], { seed: 6 })).backward();
    for (const p of mha.parameters()) expect(p.grad).not.toBeNull();
  });

  it('Embedding and LayerNorm', () => {
    const emb = new Embedding(10, 4, { seed: 1 });
    const out = emb.forward(tensor([[1, 3], [3, 9]]));
    expect(out.shape).toEqual([2, 2, 4]);
    expect(Array.from(out.select(0, 0).select(0, 1).toArray())).toEqual(Array.from(emb.weight.select(0, 3).toArray()));
    const ln = new LayerNorm(4);
    const y = ln.forward(out).toArray();
    for (let r = 0; r < 4; r++) expect(y.slice(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(0, 4);
  });
});
