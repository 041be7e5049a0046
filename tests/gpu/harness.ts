/**
 * The gpu.js suites' view of the property-test kit (core/testing, shipped as
 * `ctrlora-ts/testing`): the variants GPUJS_MODES picks, one strict backend per variant, and
 * the cross-backend comparison. One harness: everything here is the kit's.
 */
import { type GpuJsVariant, gpujsBackend, gpujsVariants } from '../../core/testing/index.ts';

export { U32, assertClose as expectClose, compareWithReference, modeOf, reference, type Tolerance } from '../../core/testing/index.ts';

export type Variant = GpuJsVariant;

/**
 * The variants under test: all (the four modes, plus webasm with threads) unless GPUJS_MODES
 * narrows them (a comma list). A mode in the list that cannot run here fails its suite:
 * nothing is skipped silently.
 */
export const MODES: readonly Variant[] = gpujsVariants(process.env.GPUJS_MODES);

export const backendFor: (variant: Variant) => ReturnType<typeof gpujsBackend> = gpujsBackend;
