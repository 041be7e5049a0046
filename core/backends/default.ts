import type { Backend } from '../backend.ts';
import { ReferenceBackend } from './reference.ts';

let current: Backend | null = null;

/** The backend new tensors go to when no `backend` option is given (reference by default). */
export function getDefaultBackend(): Backend {
  return (current ??= new ReferenceBackend());
}

export function setDefaultBackend(backend: Backend): void {
  current = backend;
}

/** Runs fn with `backend` as the default, restoring the previous one afterwards. */
export function withBackend<T>(backend: Backend, fn: () => T): T {
  const prev = current;
  current = backend;
  try {
    return fn();
  } finally {
    current = prev;
  }
}
