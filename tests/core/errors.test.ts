/** Every misuse gets an error that names the op and what is wrong with the input. */
import { describe, expect, it } from 'vitest';
import * as T from '../../core/index.ts';

const x23 = () => T.zeros([2, 3]);

describe('clear errors', () => {
  it('shape mismatches name the op and both shapes', () => {
    expect(() => x23().add(T.zeros([4, 3]))).toThrow(T.ShapeError);
    expect(() => x23().add(T.zeros([4, 3]))).toThrow('add: shapes [2, 3] and [4, 3] cannot be broadcast together');
    expect(() => x23().matmul(T.zeros([2, 3]))).toThrow('matmul: shapes [2, 3] and [2, 3] do not chain');
    expect(() => T.conv2d(T.zeros([1, 3, 5, 5]), T.zeros([4, 2, 3, 3]))).toThrow(/conv2d: input \[1, 3, 5, 5\] has 3 channels but weight \[4, 2, 3, 3\] expects 2/);
    expect(() => T.conv2d(T.zeros([1, 1, 2, 2]), T.zeros([1, 1, 3, 3]))).toThrow(/conv2d: kernel 3x3 .* does not fit input 2x2/);
    expect(() => T.mseLoss(T.zeros([3]), T.zeros([3, 1]))).toThrow('mseLoss: input shape [3] and target shape [3, 1] differ');
    expect(() => T.concat([x23(), T.zeros([2, 2])], 0)).toThrow(/concat: shapes \[2, 3\], \[2, 2\] differ outside axis 0/);
    expect(() => x23().reshape([4, 2])).toThrow('reshape: cannot reshape shape [2, 3] (6 elements) into [4, 2]');
    expect(() => x23().expand([2, 4])).toThrow(/expand: cannot expand shape \[2, 3\] to \[2, 4\]/);
    expect(() => T.layerNorm(x23(), [2])).toThrow(/layerNorm: normalizedShape \[2\] must match the trailing axes of \[2, 3\]/);
    expect(() => T.groupNorm(T.zeros([1, 6, 2, 2]), 4)).toThrow(/groupNorm: numGroups 4 must divide the 6 channels/);
    expect(() => T.stack([T.zeros([2]), T.zeros([3])])).toThrow(/stack: all shapes must be equal/);
  });

  it('bad axes name the axis and the rank', () => {
    expect(() => x23().sum(2)).toThrow('sum: axis 2 is out of range for a tensor of rank 2 (valid: -2..1)');
    expect(() => x23().softmax(-3)).toThrow(/softmax: axis -3 is out of range/);
    expect(() => x23().permute([0, 0])).toThrow(/permute: \[0, 0\] is not a permutation/);
    expect(() => x23().sum([1, -1])).toThrow(/repeats an axis/);
    expect(() => x23().select(1, 3)).toThrow(/select: index 3 is out of range for axis 1 of size 3/);
  });

  it('arguments that would produce NaN or nonsense are refused', () => {
    expect(() => T.dropout(x23(), 1.5)).toThrow('dropout: p must be in [0, 1], got 1.5');
    expect(() => T.layerNorm(x23(), [3], null, null, 0)).toThrow(/eps must be a finite number > 0/);
    expect(() => T.groupNorm(T.zeros([1, 2, 2]), 1, null, null, NaN)).toThrow(/eps must be a finite number > 0, got NaN/);
    expect(() => x23().clamp(NaN, 1)).toThrow(/clamp: bounds must not be NaN/);
    expect(() => x23().clamp(2, 1)).toThrow('clamp: min 2 is greater than max 1');
    expect(() => T.randn([2], { std: -1 })).toThrow(/randn: need a finite mean and a finite std >= 0/);
    expect(() => T.arange(0, 1, 0)).toThrow('arange: step must not be 0');
    expect(() => T.pad(x23(), [1, 2], NaN)).toThrow(/pad: value must be a finite number/);
    expect(() => T.embedding(T.tensor([0.5]), T.zeros([3, 2]))).toThrow(/embedding: indices must be integers, got 0.5/);
    expect(() => T.embedding(T.tensor([3]), T.zeros([3, 2]))).toThrow(/index 3 at position 0 is out of range for a vocabulary of 3/);
    expect(() => new T.Generator(1.5)).toThrow(/seed must be a finite integer/);
    expect(() => T.zeros([2, -1])).toThrow(/invalid dimension -1/);
  });

  it('wrong dtypes and malformed data are refused', () => {
    expect(() => T.tensor(new BigInt64Array(2) as unknown as Float32Array)).toThrow(T.DtypeError);
    expect(() => T.tensor([[1, 2], [3]])).toThrow(/ragged nesting at \[1\]/);
    expect(() => T.tensor([1, 'a' as unknown as number])).toThrow(/element \[1\] is string, expected a number/);
    expect(() => T.tensor(new Float32Array(4), [3])).toThrow(/shape \[3\] holds 3 values, but the array has 4/);
    expect(() => T.full([2], '1' as unknown as number)).toThrow(T.DtypeError);
    expect(() => x23().item()).toThrow(/only a one-element tensor has an item/);
  });

  it('mixing backends is refused', () => {
    const f64 = new T.ReferenceBackend({ precision: 'float64' });
    expect(() => T.zeros([2]).add(T.zeros([2], { backend: f64 }))).toThrow(/add: inputs live on different backends \('reference' and 'reference-f64'\)/);
  });

  it('switching off requiresGrad on a computed tensor is refused', () => {
    const y = T.zeros([2], { requiresGrad: true }).mul(2);
    expect(() => (y.requiresGrad = false)).toThrow(/only be switched off on leaf tensors/);
  });
});
