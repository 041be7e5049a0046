/** The gpu.js backend: GpuJsBackend and its plugin registration. */
export { GpuJsBackend, GpuJsStorage, GPUJS_MODES, resolveAutoMode, type GpuJsBackendOptions, type GpuJsModeOption, type GpuJsStats } from './backend.ts';
export type { GpuJsMode } from './executor.ts';
export { register, type GpuJsPluginOptions } from './plugin.ts';
