// @ts-check
/**
 * The worker thread of WorkerExecutor: runs gpu.js kernels whose calls answer with a
 * Promise, on behalf of a synchronous caller: webgpu mode (always asynchronous), and webasm
 * under asyncMode, the only way gpu.js splits a webasm kernel across its worker pool.
 *
 * Plain JavaScript because worker_threads load it without a TypeScript loader (under tsx
 * and under vitest alike). It receives kernel specs as data (core/backends/gpujs/kernels.ts
 * builds them), so no kernel source lives here.
 *
 * Protocol (messages on the worker port, processed strictly in order):
 *   {t:'init', req}                      -> reply {req, ok, mode, error}
 *   {t:'upload', id, data: Float32Array}
 *   {t:'run', id, key, spec, args: ({id}|number)[]}
 *   {t:'release', id}
 *   {t:'read', id, req}                  -> reply {req, data | error}
 * Replies go on `replyPort`; then ctrl[0] is set to req and notified, so the caller can
 * block on Atomics.wait and take the reply with receiveMessageOnPort.
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

const require = createRequire(import.meta.url);
/** @type {{ ctrl: SharedArrayBuffer, replyPort: import('node:worker_threads').MessagePort, cacheSize: number, mode: 'webgpu' | 'webasm' }} */
const { ctrl: ctrlBuffer, replyPort, cacheSize, mode } = workerData;
/** webgpu keeps results in device buffers; webasm results are host arrays. */
const resident = mode === 'webgpu';
const ctrl = new Int32Array(ctrlBuffer);

/** @type {any} */
let gpu = null;
/** @type {Map<string, any>} kernels by spec key, oldest first (an LRU) */
const kernels = new Map();
/** @type {Map<number, any>} device buffers (gpu.js WebGPUBufferResult) by storage id */
const handles = new Map();
/** The first error of a queued (fire-and-forget) message, reported at the next sync reply. */
/** @type {string | null} */
let pendingError = null;
let compiles = 0;
/** @type {Set<string>} kernel classes that ran */
const ranIn = new Set();

/** @param {{req: number} & Record<string, unknown>} msg */
function reply(msg) {
  replyPort.postMessage(msg);
  Atomics.store(ctrl, 0, msg.req);
  Atomics.notify(ctrl, 0);
}

async function init() {
  const { GPU } = require('gpu.js');
  if (mode === 'webasm') {
    if (!GPU.isWebAssemblySupported) throw new Error('WebAssembly is not supported here');
    gpu = new GPU({ mode: 'webasm' });
    return gpu.Kernel.name;
  }
  const { create, globals } = require('webgpu');
  Object.assign(globalThis, globals);
  const gpuApi = create(['backend=opengles']);
  const request = gpuApi.requestAdapter.bind(gpuApi);
  // Dawn's OpenGL ES backend only offers WebGPU's compatibility feature level.
  gpuApi.requestAdapter = (/** @type {any} */ o) => request({ featureLevel: 'compatibility', ...(o || {}) });
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: gpuApi }, configurable: true, writable: true });
  if (!(await GPU.isWebGPUAvailable())) throw new Error('no WebGPU adapter answered (webgpu package on Dawn OpenGL ES)');
  gpu = new GPU({ mode: 'webgpu' });
  // gpu.js opens its device at the first kernel call: make that happen now, while the
  // caller holds EGL_PLATFORM=surfaceless in the environment (it restores it after init).
  const probe = gpu.createKernel('function(a) { return a[this.thread.x] + 1; }', { output: [1] });
  const got = await probe(new Float32Array([1]));
  if (got[0] !== 2) throw new Error(`webgpu probe kernel returned ${got[0]}, expected 2`);
  return gpu.Kernel.name;
}

/** @param {any} spec @param {string} key */
function kernelFor(spec, key) {
  let k = kernels.get(key);
  if (k) {
    kernels.delete(key);
    kernels.set(key, k);
    return k;
  }
  k = gpu.createKernel(spec.source, {
    output: spec.output2d ? [...spec.output2d] : [spec.output],
    returnType: spec.components > 1 ? `Array(${spec.components})` : 'Number',
    constants: spec.constants,
    pipeline: resident,
    immutable: true,
    precision: 'single',
    asyncMode: true,
  });
  compiles++;
  kernels.set(key, k);
  while (kernels.size > cacheSize) {
    const [[oldestKey, oldest]] = kernels;
    kernels.delete(oldestKey);
    // gpu.js keeps every kernel it built in gpu.kernels until destroyed: without this the
    // cache bounded nothing. Safe for what tensors hold: webasm results are host copies,
    // webgpu output buffers are reference-counted (executor.ts's retireKernel).
    oldest.kernel.destroy(false);
  }
  return k;
}

/**
 * A host result as one flat Float32Array (executor.ts's flattenResult, for the webasm
 * backend's nested views of one packed buffer).
 * @param {any} out @param {number} size
 */
function flatten(out, size) {
  if (out instanceof Float32Array) return out;
  let first = out;
  while (Array.isArray(first)) first = first[0];
  if (first instanceof Float32Array && first.byteOffset === 0 && first.buffer.byteLength === size * 4) {
    return new Float32Array(first.buffer, 0, size);
  }
  const flat = new Float32Array(size);
  let at = 0;
  const walk = (/** @type {any} */ v) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v instanceof Float32Array) { flat.set(v, at); at += v.length; }
    else flat[at++] = Number(v);
  };
  walk(out);
  return flat;
}

/** @param {any} msg */
async function handle(msg) {
  switch (msg.t) {
    case 'init': {
      try {
        const cls = await init();
        reply({ req: msg.req, ok: true, kernelClass: cls });
      } catch (e) {
        reply({ req: msg.req, ok: false, error: String(/** @type {Error} */ (e).message ?? e) });
      }
      return;
    }
    case 'upload': {
      if (!resident) {
        handles.set(msg.id, msg.data);
        return;
      }
      // An identity kernel moves host values into a device buffer once.
      const spec = { source: 'function(a) { return a[this.thread.x]; }', constants: {}, output: msg.data.length };
      const k = kernelFor(spec, `identity|${msg.data.length}`);
      handles.set(msg.id, await k(msg.data));
      return;
    }
    case 'run': {
      const k = kernelFor(msg.spec, msg.key);
      const args = msg.args.map((/** @type {any} */ a) => {
        if (typeof a === 'number') return a;
        const h = handles.get(a.id);
        if (!h) throw new Error(`storage ${a.id} is not on the device (disposed?)`);
        return h;
      });
      const out = await k(...args);
      handles.set(msg.id, resident ? out : flatten(out, msg.spec.output));
      ranIn.add(k.kernel.constructor.name);
      return;
    }
    case 'release': {
      const h = handles.get(msg.id);
      handles.delete(msg.id);
      if (h && typeof h.delete === 'function') h.delete();
      return;
    }
    case 'read': {
      if (pendingError) {
        const error = pendingError;
        pendingError = null;
        reply({ req: msg.req, error });
        return;
      }
      const h = handles.get(msg.id);
      if (!h) {
        reply({ req: msg.req, error: `storage ${msg.id} is not on the device` });
        return;
      }
      try {
        const data = h instanceof Float32Array ? h : await h.toArray();
        reply({ req: msg.req, data: Float32Array.from(data), compiles, ranIn: [...ranIn], kernels: kernels.size });
      } catch (e) {
        reply({ req: msg.req, error: `read: ${String(/** @type {Error} */ (e).message ?? e)}` });
      }
      return;
    }
    case 'stats': {
      reply({ req: msg.req, compiles, ranIn: [...ranIn], kernels: kernels.size, handles: handles.size, error: pendingError });
      return;
    }
    default:
      throw new Error(`unknown message ${msg.t}`);
  }
}

let queue = Promise.resolve();
parentPort?.on('message', (msg) => {
  queue = queue.then(() => handle(msg)).catch((e) => {
    pendingError ??= `${msg.t}${msg.spec ? ` '${msg.spec.name}'` : ''}: ${String(e?.message ?? e)}`;
  });
});
