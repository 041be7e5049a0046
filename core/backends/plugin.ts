/**
 * The backend as a recipe plugin, by spec: `{ "use": "backend", "options": { "spec": "auto", "threads": 2 } }`
 * registers the backend createBackend picks under TOKENS.Backend (named after its family:
 * native, reference or gpujs), and prints which one runs and why. The model plugins build
 * their parameters on it.
 */
import { PluginError } from '../plugins/container.ts';
import { type AnyContainer, checkOptionKeys, provide } from '../plugins/any-container.ts';
import { TOKENS } from '../plugins/tokens.ts';
import { BACKEND_SPECS, announceBackend, chooseBackend, isBackendSpec } from './create.ts';

export interface BackendPluginOptions {
  /** auto | reference | native | gpujs:<mode> (default auto). */
  spec?: string;
  /** native only: threads of its pool. */
  threads?: number;
}

export async function register(container: AnyContainer, options: BackendPluginOptions = {}): Promise<void> {
  checkOptionKeys('backend', options, ['spec', 'threads']);
  const spec = options.spec ?? 'auto';
  if (!isBackendSpec(spec)) throw new PluginError(`backend: unknown spec '${String(spec)}'; valid: ${BACKEND_SPECS.join(', ')}`);
  // Chosen now, so a recipe naming a backend that cannot run here fails when it is built.
  const choice = await chooseBackend(spec, options.threads === undefined ? {} : { threads: options.threads });
  announceBackend(choice);
  provide(container, TOKENS.Backend, choice.spec.split(':')[0]!, () => choice.backend);
}
