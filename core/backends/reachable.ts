/**
 * What a tidy() scope must keep: every storage reachable from the scope's result through
 * Tensors (their storage and grad), arrays, Maps and plain objects. Shared by the backends
 * with scoped release.
 */
import type { Storage } from '../backend.ts';

export function collectStorages(value: unknown, isStorage: (v: object) => v is Storage, out: Set<Storage>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isStorage(value)) {
    out.add(value);
    return;
  }
  const rec = value as Record<string, unknown>;
  if ('storage' in rec && 'shape' in rec) {
    collectStorages(rec.storage, isStorage, out, seen);
    collectStorages(rec.grad, isStorage, out, seen);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectStorages(v, isStorage, out, seen);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectStorages(v, isStorage, out, seen);
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) {
    for (const v of Object.values(rec)) collectStorages(v, isStorage, out, seen);
  }
}
