/**
 * The custom-op registry: an op defined outside core/ (examples/custom-op/softplus.ts) runs
 * on the reference and native families through its host kernel, with its gradient on the
 * tape; registration errors, late gradients, host fallback and the missing-kernel error.
 * Its gpu.js kernel is tested on every mode in tests/gpu/custom-ops.property.test.ts.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type * as T from '../../core/index.ts';
import {
  type Backend, type HostKernelArgs, ReferenceBackend, type Storage, backendFamily, defineOp, gradcheck, listOps,
  randn, registerGradient, registerKernel, runOp, tensor, unregisterOp,
} from '../../core/index.ts';
import { softplus } from '../../examples/custom-op/softplus.ts';
import { f64, seedArb, shapeArb } from './helpers.ts';

/** torch's softplus on one number, in float64. */
const softplusOf = (x: number, beta = 1, threshold = 20) => (beta * x > threshold ? x : Math.log1p(Math.exp(beta * x)) / beta);

/** A reference backend that says it is the native one: the 'native' family's dispatch path. */
class NativeStandIn extends ReferenceBackend {
  constructor() {
    super();
    (this as { name: string }).name = 'native';
  }
}

/** A backend of another family ('toy'): a reference backend under another name, storages and all. */
class ToyBackend extends ReferenceBackend {
  constructor() {
    super();
    (this as { name: string }).name = 'toy:1';
  }
}

const temporary: string[] = [];
afterEach(() => {
  for (const name of temporary.splice(0)) unregisterOp(name);
});
function scratchOp<A>(def: Parameters<typeof defineOp<A>>[0]) {
  temporary.push(def.name);
  return defineOp<A>(def);
}

const doubleHost = ({ inputs: [x], out }: HostKernelArgs<unknown>) => {
  for (let i = 0; i < out.length; i++) out[i] = 2 * x![i]!;
};

describe('softplus, a custom op from examples/', () => {
  it('backend families are named from backend names', () => {
    expect(backendFamily(new ReferenceBackend())).toBe('reference');
    expect(backendFamily(f64)).toBe('reference');
    expect(backendFamily(new NativeStandIn())).toBe('native');
    expect(backendFamily(new ToyBackend())).toBe('toy');
    const named = (name: string) => ({ name }) as T.Backend;
    expect(['gpujs:webasm+threads', 'gpujs:cpu', 'my-backend', 'mine:v2'].map((n) => backendFamily(named(n)))).toEqual(['gpujs', 'gpujs', 'my-backend', 'mine']);
  });

  it('matches torch formula values on reference, float64 reference and the native family', () => {
    for (const backend of [new ReferenceBackend(), f64, new NativeStandIn()]) {
      const xs = [-30, -3, -0.5, 0, 0.25, 2, 19.9, 25];
      const x = tensor(xs, { backend });
      const y = softplus(x);
      expect(y.backend).toBe(backend);
      const tol = backend === f64 ? 1e-14 : 2e-7;
      y.toFloat64Array().forEach((v, i) => expect(Math.abs(v - softplusOf(xs[i]!))).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(v))));
      softplus(x, 2, 5).toFloat64Array().forEach((v, i) => expect(v).toBeCloseTo(softplusOf(xs[i]!, 2, 5), 6));
    }
    expect(softplus(tensor([1], { backend: f64 })).toFloat64Array()[0]).toBe(Math.log1p(Math.E));
  });

  it('gradient matches finite differences (fast-check over shapes, beta, threshold)', () => {
    fc.assert(
      fc.property(shapeArb(3, 4), seedArb, fc.double({ min: 0.5, max: 3, noNaN: true }), (shape, seed, beta) => {
        // threshold 1: both branches are hit; keep points off the kink z = threshold.
        const x = randn(shape, { backend: f64, seed, std: 2 });
        const safe = x.add(x.mul(beta).sub(1).abs().lt(1e-3).mul(0.01));
        expect(gradcheck((t) => softplus(t, beta, 1), [safe])).toBeNull();
      }),
      { numRuns: 25 },
    );
  });

  it('is on the tape like a built-in: chained, fanned out, with grad reaching the leaf', () => {
    const x = tensor([[-1, 0.5], [2, 3]], { backend: f64, requiresGrad: true });
    const y = softplus(x).mul(softplus(x)).sum();
    expect(y.gradFn?.name).toBe('sum');
    y.backward();
    const want = [-1, 0.5, 2, 3].map((v) => 2 * softplusOf(v) / (1 + Math.exp(-v)));
    x.grad!.toFloat64Array().forEach((g, i) => expect(g).toBeCloseTo(want[i]!, 12));
  });

  it('refuses bad attributes and wrong input counts, naming the op', () => {
    expect(() => softplus(tensor([1]), 0)).toThrow(/softplus: beta must be/);
    expect(() => runOp('softplus', [tensor([1]), tensor([2])], { beta: 1, threshold: 20 })).toThrow(/softplus: takes 1 input/);
  });

  it('on a backend family without a kernel: an error naming the op, the backend and the families it has', () => {
    expect(() => softplus(tensor([1], { backend: new ToyBackend() }))).toThrow(
      /custom op 'softplus' has no kernel for backend 'toy:1' \(family 'toy'; kernels: reference, native, gpujs\).*registerKernel\('softplus', 'toy'/,
    );
    expect(listOps().find((o) => o.name === 'softplus')).toEqual({ name: 'softplus', families: ['reference', 'native', 'gpujs'], hasGradient: true });
  });
});

describe('the registry', () => {
  it('a name collision is an error unless overridden', () => {
    scratchOp({ name: 'twice', kernels: { reference: doubleHost } });
    expect(() => defineOp({ name: 'twice', kernels: { reference: doubleHost } })).toThrow(/'twice' is already registered.*override/);
    expect(() => registerKernel('twice', 'reference', doubleHost)).toThrow(/already has a 'reference' kernel/);
    const again = defineOp({ name: 'twice', kernels: { reference: ({ inputs: [x], out }: HostKernelArgs<unknown>) => out.set(x!.map((v) => 3 * v)) } }, { override: true });
    expect(again([tensor([1, 2])], {}).tolist()).toEqual([3, 6]);
    expect(() => runOp('no-such-op', [], {})).toThrow(/no custom op named 'no-such-op' is registered/);
    expect(() => defineOp({ name: ' ' })).toThrow(/non-empty name/);
  });

  it('kernels and gradients can be registered after the op; backward without one says so', () => {
    const op = scratchOp<unknown>({ name: 'late', kernels: { reference: doubleHost } });
    const x = tensor([1, 2], { backend: f64, requiresGrad: true });
    expect(() => op([x], {}).sum().backward()).toThrow(/custom op 'late' has no gradient rule.*registerGradient\('late'/);
    registerGradient('late', (gy) => [gy.mul(2)]);
    const x2 = tensor([1, 2], { backend: f64, requiresGrad: true });
    op([x2], {}).sum().backward();
    expect(x2.grad!.tolist()).toEqual([2, 2]);
    expect(() => registerGradient('late', (gy) => [gy])).toThrow(/already has a gradient/);

    const toy = new ToyBackend();
    expect(() => op([tensor([1], { backend: toy })], {})).toThrow(/no kernel for backend 'toy:1'/);
    // A storage kernel for the 'toy' family: storages in, a storage out.
    registerKernel<unknown>('late', 'toy', ({ backend, inputs: [s] }) => backend.upload(Float32Array.from(backend.read(s as Storage), (v) => 2 * v + 100)));
    expect(op([tensor([1, 2], { backend: toy })], {}).tolist()).toEqual([102, 104]);
  });

  it('hostFallback runs the reference kernel through read/upload on a backend with no kernel', () => {
    const op = scratchOp<unknown>({ name: 'fallback', kernels: { reference: doubleHost }, hostFallback: true, grad: (gy) => [gy.mul(2)] });
    const toy: Backend = new ToyBackend();
    const y = op([tensor([1, -4], { backend: toy })], {});
    expect(y.backend).toBe(toy);
    expect(y.tolist()).toEqual([2, -8]);
  });

  it('nonDifferentiable ops record nothing; a rule returning the wrong count is an error', () => {
    const sign = scratchOp<unknown>({ name: 'nd', nonDifferentiable: true, kernels: { reference: doubleHost } });
    const x = tensor([1], { requiresGrad: true });
    expect(sign([x], {}).requiresGrad).toBe(false);
    const bad = scratchOp<unknown>({ name: 'bad-grad', kernels: { reference: doubleHost }, grad: () => [] });
    expect(() => bad([tensor([1], { requiresGrad: true })], {}).sum().backward()).toThrow(/must return 1 gradient/);
  });

  it('outputShape sets the result shape and checks the inputs; a non-tensor list is refused', () => {
    const rowSums = scratchOp<unknown>({
      name: 'row-sums',
      arity: 1,
      outputShape: ([s]) => {
        if (s!.length !== 2) throw new Error(`row-sums: need a matrix, got rank ${s!.length}`);
        return [s![0]!];
      },
      kernels: {
        reference: ({ inputs: [x], shapes: [s], out }) => {
          for (let r = 0; r < s![0]!; r++) for (let c = 0; c < s![1]!; c++) out[r]! += x![r * s![1]! + c]!;
        },
      },
    });
    expect(rowSums([tensor([[1, 2, 3], [4, 5, 6]]).mT], {}).tolist()).toEqual([5, 7, 9]); // a view is densified first
    expect(() => rowSums([tensor([1])], {})).toThrow(/need a matrix/);
  });
});
