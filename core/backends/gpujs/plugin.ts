/**
 * The gpu.js backend as a recipe plugin: `register(container, { mode, strict, threads })` builds
 * one GpuJsBackend and registers it under TOKENS.Backend as 'gpujs' (the model plugins build
 * their parameters on the registered backend).
 */
import { type AnyContainer, checkOptionKeys, provide } from '../../plugins/any-container.ts';
import { TOKENS } from '../../plugins/tokens.ts';
import { GpuJsBackend, type GpuJsBackendOptions } from './backend.ts';

/** JSON options: the GpuJsBackendOptions (mode, strict, threads, kernelCacheSize). */
export type GpuJsPluginOptions = GpuJsBackendOptions;

export function register(container: AnyContainer, options: GpuJsPluginOptions = {}): void {
  checkOptionKeys('backend/gpujs', options, ['mode', 'strict', 'threads', 'kernelCacheSize']);
  // Built on first resolve: registering a recipe opens no GPU context it may not use.
  provide(container, TOKENS.Backend, 'gpujs', () => new GpuJsBackend(options));
}
