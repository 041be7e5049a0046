import type { KernelSpec } from './kernels.ts';

export function kernelSettings(spec: KernelSpec, how: { pipeline: boolean; asyncMode?: boolean }): Record<string, unknown>;

export class LruCache<V> {
  readonly capacity: number;
  constructor(capacity: number, onEvict: (value: V) => void);
  readonly size: number;
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  clear(): void;
}

export function flattenResult(out: unknown, size: number): Float32Array;
