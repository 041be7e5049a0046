/**
 * Counter-examples fast-check found in the gpu.js backend, kept as regular tests on every
 * mode so they stay fixed.
 */
import { describe, it } from 'vitest';
import { concat, randn, tensor, where, zeros } from '../../core/index.ts';
import { MODES, backendFor, compareWithReference } from './harness.ts';

describe.each(MODES)('gpu.js %s counter-examples', (mode) => {
  const backend = backendFor(mode);

  // Found on webasm by the where/clamp/copy property (shrunk to shape [1, 1, 3], seed 0,
  // after earlier runs had filled the kernel cache): two strided copies with the same
  // geometry but source storages of different sizes (3 and 1) shared one compiled kernel,
  // and webasm refuses an argument whose size changed ("argument a changed size from
  // [3, 1, 1] to [1, 1, 1]"). Argument sizes are now part of a kernel's cache key.
  it('the same copy geometry over storages of different sizes', () => {
    compareWithReference(backend, () => {
      const first = randn([3], { seed: 4 }).slice(0, 0, 1).contiguous();
      const second = randn([2], { seed: 5 }).slice(0, 0, 1).contiguous();
      const third = randn([1, 3], { seed: 6 }).slice(1, 0, 1).contiguous();
      return [first, second, third];
    }, {}, 'copies of [1] from storages of 3, 2 and 3');
  });

  it('[1, 1, 3], seed 0: the shrunk property case itself', () => {
    compareWithReference(backend, () => {
      const shape = [1, 1, 3];
      const x = randn(shape, { seed: 0 }).requiresGrad_();
      const y = randn(shape, { seed: 1 }).requiresGrad_();
      const w = where(x.gt(0), x, y.mul(2));
      const e = x.slice(0, 0, 1).expand(shape).contiguous();
      const s = x.slice(1, 0, undefined, 1).slice(2, 0, undefined, 2).contiguous();
      const p = x.permute([2, 0, 1]).contiguous();
      w.sum().add(e.mul(y).sum()).add(s.sum()).add(p.square().sum()).backward();
      return [w, e, s, p, x.grad, y.grad];
    }, { reduction: 3 }, 'copy [1,1,3]');
  });

  // Found in review: a negative base to a fractional power gave |base|^power, not NaN; and
  // on GL and WebGPU 0 to a negative power gave 0, not Infinity.
  it('pow of negative and zero bases: NaN, signs of odd exponents, 0^0 and 0^-1', () => {
    compareWithReference(backend, () => tensor([-2, -2, -2, -0.5, 0, 0, 2]).pow(tensor([0.5, 3, 2, -1.5, 0, -1, -1])), {}, 'pow');
  });

  it('concat with an empty input', () => {
    compareWithReference(backend, () => concat([randn([2, 3], { seed: 2 }), zeros([2, 0]), randn([2, 1], { seed: 3 })], 1), {}, 'concat with empty');
  });
});
