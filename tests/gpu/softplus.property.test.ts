import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { randn } from 'ctrlora-ts';
import { compareWithReference, gpujsBackend, gpujsVariants } from 'ctrlora-ts/testing';
import { softplus } from '../../examples/custom-op/softplus.ts';

// every gpu.js variant, or those GPUJS_MODES lists (a listed mode that cannot run fails)
describe.each(gpujsVariants(process.env.GPUJS_MODES))('softplus on gpu.js %s against the reference', (mode) => {
  const backend = gpujsBackend(mode);

  it('forward and gradient', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }), // shapes
        fc.integer({ min: 0, max: 1_000_000 }), // seeds
        fc.constantFrom(1, 2.5), // beta
        (shape, seed, beta) => {
          compareWithReference(backend, () => {
            const x = randn(shape, { seed, std: 4 }).requiresGrad_();
            const y = softplus(x, beta, 6);
            expect(y.backend).toBe(x.backend); // no silent move to another backend
            y.mul(randn(shape, { seed: seed + 1 })).sum().backward();
            return [y, x.grad];
          }, { rtol: 2e-5, atol: 2e-6 }, `softplus beta ${beta} ${JSON.stringify(shape)}`);
        },
      ),
      { numRuns: mode === 'headlessgl' ? 1 : 3 }, // each new shape compiles a kernel
    );
  });
});
