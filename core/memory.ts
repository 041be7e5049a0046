/**
 * Scoped release of backend memory, whatever the backend: a training step wrapped in
 * tidy() hands its intermediate storages back when it ends instead of leaving them to the
 * garbage collector (GPU textures, pooled native buffers).
 */
import type { Backend } from './backend.ts';
import { getDefaultBackend } from './backends/default.ts';

/** Runs fn inside the backend's tidy scope (the default backend when none is given). */
export function tidy<T>(fn: () => T, backend: Backend = getDefaultBackend()): T {
  return backend.tidy ? backend.tidy(fn) : fn();
}
