/**
 * Scoped release for backends that own their memory (gpu.js textures and buffers, native
 * pooled buffers): the bookkeeping behind Backend.tidy and Backend.keep, shared so that every
 * such backend keeps and releases by the same rules.
 */
import type { Storage } from '../backend.ts';

export class TidyScopes<S extends Storage> {
  private readonly open: Set<S>[] = [];

  /**
   * @param isOwn  whether a value is a storage of this backend (what a scope may release)
   * @param release  returns one storage's memory (the backend's dispose)
   */
  constructor(
    private readonly isOwn: (v: object) => v is S,
    private readonly release: (s: S) => void,
  ) {}

  /** Records a new storage in the innermost open scope, if any. */
  track(s: S): void {
    this.open.at(-1)?.add(s);
  }

  /**
   * Runs fn and then releases every storage allocated during it, except those reachable from
   * its result (which move to the enclosing scope) and those kept. If fn throws, everything it
   * allocated is released.
   */
  run<T>(fn: () => T): T {
    const scope = new Set<S>();
    this.open.push(scope);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      for (const s of scope) this.release(s);
      throw e;
    } finally {
      this.open.pop();
    }
    const reachable = new Set<Storage>();
    collectStorages(result, this.isOwn, reachable);
    for (const s of scope) {
      if (reachable.has(s)) this.track(s);
      else this.release(s);
    }
    return result;
  }

  /** Takes a storage out of every open scope: long-lived state (Backend.keep). */
  keep(s: Storage): void {
    if (!this.isOwn(s)) return;
    for (const scope of this.open) scope.delete(s);
  }
}

/**
 * Every storage reachable from a value through Tensors (their storage and grad), arrays, Maps
 * and plain objects.
 */
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
