/** Finite-difference checks of the layers' composed gradients on the float64 reference backend. */
import { describe, expect, it } from 'vitest';
import { Conv2d, GroupNorm, LayerNorm, Module, MultiheadAttention, ReferenceBackend, type Tensor, assertGradcheck, randn, tensor } from '../../core/index.ts';

const f64 = new ReferenceBackend({ precision: 'float64' });

describe('layer gradients (gradcheck, float64)', () => {
  it('cross-attention with a mask, w.r.t. queries and context', () => {
    const mha = new MultiheadAttention(4, 2, { contextDim: 3, seed: 1, backend: f64, qkvBias: true });
    const mask = tensor([[1, 0, 1], [1, 1, 0]], { backend: f64 }).reshape([1, 1, 2, 3]);
    assertGradcheck((x, ctx) => mha.forward(x!, ctx!, { mask }), [randn([1, 2, 4], { seed: 2, backend: f64 }), randn([1, 3, 3], { seed: 3, backend: f64 })]);
  });

  it('a conv + group norm + layer norm stack, w.r.t. its input', () => {
    class Block extends Module {
      conv = this.registerModule('conv', new Conv2d(2, 4, 3, { padding: 1, stride: 2, seed: 4, backend: f64 }));
      norm = this.registerModule('norm', new GroupNorm(2, 4, { backend: f64 }));
      ln = this.registerModule('ln', new LayerNorm(2, { backend: f64 }));
      forward(x: Tensor): Tensor {
        return this.ln.forward(this.norm.forward(this.conv.forward(x)).silu());
      }
    }
    const block = new Block();
    expect([...block.stateDict().keys()]).toEqual(['conv.weight', 'conv.bias', 'norm.weight', 'norm.bias', 'ln.weight', 'ln.bias']);
    assertGradcheck((x) => block.forward(x!), [randn([1, 2, 4, 4], { seed: 5, backend: f64 })]);
  });
});
