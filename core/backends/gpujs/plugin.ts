/** Registers a GpuJsBackend under the backend token of a tsyringe container. */
import type { DependencyContainer } from 'tsyringe';
import { TOKENS } from '../../plugins/tokens.ts';
import { GpuJsBackend, type GpuJsBackendOptions } from './backend.ts';

export function registerGpuJsBackend(container: DependencyContainer, options: GpuJsBackendOptions = {}): GpuJsBackend {
  const backend = new GpuJsBackend(options);
  container.registerInstance(TOKENS.Backend, backend);
  return backend;
}
