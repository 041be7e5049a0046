/**
 * The property-test kit (`ctrlora-ts/testing`): fast-check arbitraries for shapes, tensors and
 * conv geometries; finite-difference gradient checks; and a check that runs a computation on
 * every available backend against the reference with tolerances derived from reduction lengths.
 * It throws plain errors, so it works under any test runner. See docs/testing.md.
 */
/** fast-check itself, the same copy the arbitraries come from. */
export { default as fc } from 'fast-check';
export * from './arbitraries.ts';
export { U32, assertClose, compareWithReference, compareOnBackends, reference, BackendMismatchError, type Tolerance, type Outputs } from './compare.ts';
export { GPUJS_VARIANTS, gpujsVariants, gpujsBackend, modeOf, availableBackends, type GpuJsVariant, type AvailableBackends } from './backends.ts';
export { gradcheck, assertGradcheck, type GradcheckOptions, type GradcheckMismatch } from '../gradcheck.ts';
export { toTensor, float64Reference } from './host.ts';
