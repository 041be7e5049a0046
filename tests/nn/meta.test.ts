import { describe, expect, it } from 'vitest';
import { Conv2d, Embedding, GroupNorm, Linear, Sequential, TensorError, defaultGenerator, init, isMetaBackend, metaBackend, randn, shapeOnly } from '../../core/index.ts';

describe('shape-only (meta) parameters', () => {
  it('builds layers with shapes, counts and state-dict keys but no values, drawing no random numbers', () => {
    const before = defaultGenerator.getState();
    const m = shapeOnly(() => new Sequential(new Conv2d(3, 64, 3), new GroupNorm(8, 64), new Linear(1000, 2000)));
    const e = shapeOnly(() => new Embedding(50000, 512));
    expect(defaultGenerator.getState()).toEqual(before);
    expect(m.numParameters().total).toBe(64 * 3 * 9 + 64 + 64 + 64 + 1000 * 2000 + 2000);
    expect([...m.stateDict().keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '2.weight', '2.bias']);
    expect(m.stateDict().get('2.weight')!.shape).toEqual([2000, 1000]);
    expect(e.weight.shape).toEqual([50000, 512]);
    expect(isMetaBackend(e.weight.backend)).toBe(true);
    expect(isMetaBackend(undefined)).toBe(false);
  });

  it('initialisers accept meta parameters; kernels and reads refuse with a clear error', () => {
    const lin = shapeOnly(() => new Linear(4, 3));
    init.zeros_(lin.bias!);
    expect(lin.bias!.backend).toBe(metaBackend);
    expect(() => lin.weight.toArray()).toThrow(TensorError);
    expect(() => lin.forward(shapeOnly(() => randn([2, 4])))).toThrow(/meta backend: 'matmul' needs values/);
  });
});
