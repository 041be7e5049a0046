/**
 * Custom ops' gpu.js kernels (core/ops/custom.ts) on every gpu.js mode against their
 * reference kernels, forward and backward, by fast-check properties: the worked example
 * (examples/custom-op/softplus.ts) and the core ops built on the registry (erf, cumsum).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { randn } from '../../core/index.ts';
import { softplus } from '../../examples/custom-op/softplus.ts';
import { MODES, backendFor, compareWithReference } from './harness.ts';

const runsFor = (mode: string) => ({ numRuns: Number(process.env.GPUJS_RUNS) || (mode === 'headlessgl' ? 1 : mode === 'cpu' || mode === 'webasm' ? 5 : 2) });
const shapeArb = fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 });
const seedArb = fc.integer({ min: 0, max: 1_000_000 });

describe.each(MODES)('custom ops on gpu.js %s against the reference', (mode) => {
  const backend = backendFor(mode);
  const RUNS = runsFor(mode);

  it('softplus (the docs example) and its gradient run the gpu.js kernel', () => {
    const compiles = backend.stats.compiles;
    fc.assert(
      fc.property(shapeArb, seedArb, fc.constantFrom(1, 2.5), (shape, seed, beta) => {
        compareWithReference(backend, () => {
          const x = randn(shape, { seed, std: 4 }).requiresGrad_();
          const y = softplus(x, beta, 6);
          expect(y.backend).toBe(x.backend);
          y.mul(randn(shape, { seed: seed + 1 })).sum().backward();
          return [y, x.grad];
        }, { rtol: 2e-5, atol: 2e-6 }, `softplus beta ${beta} ${JSON.stringify(shape)}`);
      }),
      RUNS,
    );
    // Its own kernel ran on the device (the first run compiles it; webgpu counts at readback).
    expect(backend.stats.compiles).toBeGreaterThan(compiles);
  });
});
