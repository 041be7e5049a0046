/** The tensor core: Tensor, ops (with gradients), autograd, backends, random numbers. */
export { Tensor, type Scalar, type TensorOrScalar } from './tensor.ts';
export * from './ops/index.ts';
export { attach, noGrad, withGradEnabled, isGradEnabled, GradNode, type GradRule, type BackwardOptions } from './autograd.ts';
export * from './backend.ts';
export { ReferenceBackend, ReferenceStorage, type ReferenceBackendOptions } from './backends/reference.ts';
export { getDefaultBackend, setDefaultBackend, withBackend } from './backends/default.ts';
export {
  createBackend, chooseBackend, announceBackend, nativeAvailability, parseBackendSpec, isBackendSpec, BACKEND_SPECS,
  type BackendSpec, type BackendChoice, type CreateBackendOptions,
} from './backends/create.ts';
export { addBackendOptions, backendOption, threadsOption, BACKEND_OPTION_HELP } from './backends/cli-options.ts';
export { tidy } from './memory.ts';
export { Generator, defaultGenerator, manualSeed, type GeneratorState, type RandomOptions } from './random.ts';
export { TensorError, ShapeError, ArgumentError, DtypeError } from './errors.ts';
export { broadcastShapes, sizeOf, contiguousStrides, type Shape } from './shape.ts';
export { gradcheck, assertGradcheck, type GradcheckOptions, type GradcheckMismatch } from './gradcheck.ts';
export { erf } from './math.ts';
export * from './nn/index.ts';
export * from './optim/index.ts';
export * from './io/index.ts';
export * from './plugins/index.ts';
export * from './telemetry/index.ts';
export * from './train/index.ts';
