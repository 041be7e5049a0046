/**
 * The native backend as a recipe plugin: `register(container, { threads })` registers one
 * NativeBackend under TOKENS.Backend as 'native', built on first resolve (a recipe that never
 * resolves it does not need the addon).
 */
import { type AnyContainer, checkOptionKeys, provide } from '../../plugins/any-container.ts';
import { TOKENS } from '../../plugins/tokens.ts';
import { NativeBackend, type NativeBackendOptions } from './backend.ts';

/** JSON options: the NativeBackendOptions (threads). */
export type NativePluginOptions = NativeBackendOptions;

export function register(container: AnyContainer, options: NativePluginOptions = {}): void {
  checkOptionKeys('backend/native', options, ['threads']);
  provide(container, TOKENS.Backend, 'native', () => new NativeBackend(options));
}
