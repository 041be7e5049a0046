// @ts-check
/**
 * What both executors do with gpu.js, the one in this thread (executor.ts) and the one in
 * the worker (async-worker.mjs): how a KernelSpec becomes gpu.js kernel settings, the LRU
 * of compiled kernels, and how a kernel's result becomes one flat Float32Array.
 *
 * Plain JavaScript for the worker, which loads without a TypeScript loader; its types are
 * in kernel-runtime.d.mts.
 */

/**
 * gpu.js createKernel settings for a KernelSpec (kernels.ts).
 * @param {import('./kernels.ts').KernelSpec} spec
 * @param {{ pipeline: boolean, asyncMode?: boolean }} how
 */
export function kernelSettings(spec, { pipeline, asyncMode = false }) {
  return {
    output: spec.output2d ? [...spec.output2d] : [spec.output],
    returnType: spec.components && spec.components > 1 ? `Array(${spec.components})` : 'Number',
    constants: spec.constants,
    pipeline,
    immutable: true,
    tactic: 'precision',
    precision: 'single',
    dynamicArguments: false,
    asyncMode,
  };
}

/** A Map used as an LRU: re-inserting a key on each hit keeps the eldest first. */
export class LruCache {
  /** @param {number} capacity @param {(value: any) => void} onEvict */
  constructor(capacity, onEvict) {
    this.capacity = capacity;
    this.onEvict = onEvict;
    /** @type {Map<string, any>} */
    this.map = new Map();
  }
  get size() {
    return this.map.size;
  }
  /** @param {string} key */
  get(key) {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  /** @param {string} key @param {any} value */
  set(key, value) {
    this.map.set(key, value);
    while (this.map.size > this.capacity) {
      const [oldest, v] = this.map.entries().next().value;
      this.map.delete(oldest);
      this.onEvict(v);
    }
  }
  clear() {
    for (const v of this.map.values()) this.onEvict(v);
    this.map.clear();
  }
}

/**
 * A 2-D or multi-component result as one flat Float32Array. gpu.js's webasm backend erects
 * its nested arrays as views of one packed buffer, which is taken as is; anything else
 * (the cpu backend's separate rows) is copied leaf by leaf in row-major order.
 * @param {unknown} out @param {number} size
 */
export function flattenResult(out, size) {
  if (out instanceof Float32Array) return out;
  /** @type {unknown} */
  let first = out;
  while (Array.isArray(first)) first = first[0];
  if (first instanceof Float32Array && first.byteOffset === 0 && first.buffer.byteLength === size * 4) {
    return new Float32Array(first.buffer, 0, size);
  }
  const flat = new Float32Array(size);
  let at = 0;
  /** @param {unknown} v */
  const walk = (v) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v instanceof Float32Array) {
      flat.set(v, at);
      at += v.length;
    } else {
      flat[at++] = Number(v);
    }
  };
  walk(out);
  if (at !== size) throw new Error(`gpujs: a kernel result held ${at} values, expected ${size}`);
  return flat;
}
