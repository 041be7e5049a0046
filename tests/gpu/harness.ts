/**
 * The gpu.js suites' view of the property-test kit (core/testing, shipped as
 * `ctrlora-ts/testing`): the variants GPUJS_MODES picks that can run here, one strict backend
 * per variant, and the cross-backend comparison. One harness: the comparison is the kit's.
 */
import { describe, it } from 'vitest';
import { type GpuJsVariant, gpujsBackend, gpujsVariants } from '../../core/testing/index.ts';
import { UNAVAILABLE_TEST } from './mode-summary.ts';

export { U32, assertClose as expectClose, compareWithReference, modeOf, reference, type Tolerance } from '../../core/testing/index.ts';

export type Variant = GpuJsVariant;

/** The variants asked for: all (the four modes, plus webasm with threads) unless GPUJS_MODES narrows them (a comma list). */
const REQUESTED: readonly Variant[] = gpujsVariants(process.env.GPUJS_MODES);

export const backendFor: (variant: Variant) => ReturnType<typeof gpujsBackend> = gpujsBackend;

/** Every requested mode must run (CI sets GPUJS_MODES_REQUIRED=1 in .ci/run): nothing is skipped. */
export const MODES_REQUIRED = process.env.GPUJS_MODES_REQUIRED === '1';

/**
 * Why each requested variant cannot run on this machine (no `gl` build, no X display, no
 * WebGPU adapter), found by building its backend. Empty when every mode is required: then a
 * mode that cannot run fails its suites, loudly.
 */
export const UNAVAILABLE: ReadonlyMap<Variant, string> = (() => {
  const why = new Map<Variant, string>();
  if (MODES_REQUIRED) return why;
  for (const v of REQUESTED) {
    try {
      backendFor(v);
    } catch (e) {
      why.set(v, (e as Error).message.replace(/\s+/g, ' ').slice(0, 300));
    }
  }
  return why;
})();

/**
 * The variants under test: the requested ones that can run here. A variant left out is not
 * silent: every test file using this harness shows it as one skipped test carrying the
 * reason, and tests/gpu/mode-summary.ts prints them all in one line at the end of the run.
 */
export const MODES: readonly Variant[] = REQUESTED.filter((v) => !UNAVAILABLE.has(v));

for (const [variant, why] of UNAVAILABLE) {
  describe(`gpu.js ${variant}`, () => it(UNAVAILABLE_TEST, (ctx) => ctx.skip(`${variant}: ${why}`)));
}
