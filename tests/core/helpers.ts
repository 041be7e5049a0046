/** Shared test helpers: a float64 reference backend, random tensors, shape arbitraries. */
import fc from 'fast-check';
import { expect } from 'vitest';
import { ReferenceBackend, Tensor, gradcheck, randn } from '../../core/index.ts';

/** Finite differences need float64 storage to be meaningful. */
export const f64 = new ReferenceBackend({ precision: 'float64' });

export function rnd(shape: readonly number[], seed: number, backend = f64): Tensor {
  return randn(shape, { backend, seed });
}

export function expectGrad(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], atol = 1e-5): void {
  expect(gradcheck(fn, inputs, { atol, rtol: 1e-4 })).toBeNull();
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= tol * (1 + Math.abs(e)))) {
      throw new Error(`element ${i}: got ${a}, expected ${e} (tol ${tol})`);
    }
  }
}

/** Shapes of rank 0..maxRank with dimensions 1..maxDim (size-1 dims included on purpose). */
export const shapeArb = (maxRank = 3, maxDim = 4) =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: 0, maxLength: maxRank });

/** Two shapes that broadcast: b drops some leading axes of a and sets some others to 1. */
export const broadcastPairArb = (maxRank = 3, maxDim = 4) =>
  shapeArb(maxRank, maxDim).chain((a) =>
    fc
      .tuple(
        fc.integer({ min: 0, max: a.length }),
        fc.array(fc.boolean(), { minLength: a.length, maxLength: a.length }),
        fc.boolean(),
      )
      .map(([drop, ones, swap]) => {
        const b = a.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d));
        return swap ? ([b, a] as const) : ([a, b] as const);
      }),
  );

export const seedArb = fc.integer({ min: 0, max: 1_000_000 });

/** Property-test settings for the core: enough runs to explore, few enough to stay fast. */
export const RUNS = { numRuns: 50 };
