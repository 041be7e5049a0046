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
 *   {t:'upload', id, data: Float32Array, key, spec}  (spec: the identity kernel, for webgpu)
 *   {t:'run', id, key, spec, args: ({id}|number)[]}
 *   {t:'release', id}
 *   {t:'read', id, req}                  -> reply {req, data | error}
 *   {t:'close'}                          frees every buffer and ends the thread (the backend's destroy)
 * Replies go on `replyPort`; then ctrl[0] is set to req and notified, so the caller can
 * block on Atomics.wait and take the reply with receiveMessageOnPort. When the thread ends,
 * ctrl[0] is set to -1 (WORKER_EXITED in worker-executor.ts) and notified.
 */
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

/** @type {{ ctrl: SharedArrayBuffer, replyPort: import('node:worker_threads').MessagePort, cacheSize: number, mode: 'webgpu' | 'webasm' }} */
const { ctrl: ctrlBuffer, replyPort, cacheSize, mode } = workerData;
const ctrl = new Int32Array(ctrlBuffer);
// Whatever ends this thread (an uncaught error, a failed import below), the caller may be
// blocked on ctrl waiting for a reply: WORKER_EXITED there tells it to stop waiting.
process.on('exit', () => {
  Atomics.store(ctrl, 0, -1);
  Atomics.notify(ctrl, 0);
});
const { LruCache, flattenResult, kernelSettings } = await import('./kernel-runtime.mjs');

const require = createRequire(import.meta.url);
/** webgpu keeps results in device buffers; webasm results are host arrays. */
const resident = mode === 'webgpu';

/** @type {any} */
let gpu = null;
/**
 * Compiled kernels by spec key. An evicted kernel is destroyed: gpu.js keeps every kernel it
 * built in gpu.kernels until then (executor.ts's retireKernel says why this is safe here).
 * @type {LruCache<any>}
 */
const kernels = new LruCache(cacheSize, (k) => k.kernel.destroy(false));
/** @type {Map<number, any>} device buffers (gpu.js WebGPUBufferResult) by storage id */
const handles = new Map();
/** The first error of a queued (fire-and-forget) message, reported at the next sync reply. */
/** @type {string | null} */
let pendingError = null;
let compiles = 0;
/** @type {Set<string>} kernel classes that ran */
const ranIn = new Set();

/** @param {{req: number} & Record<string, unknown>} msg @param {ArrayBuffer[]} [transfer] */
function reply(msg, transfer = []) {
  replyPort.postMessage(msg, transfer);
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
  if (!k) {
    k = gpu.createKernel(spec.source, kernelSettings(spec, { pipeline: resident, asyncMode: true }));
    compiles++;
    kernels.set(key, k);
  }
  return k;
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
      // The identity kernel moves host values into a device buffer once.
      handles.set(msg.id, await kernelFor(msg.spec, msg.key)(msg.data));
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
      handles.set(msg.id, resident ? out : flattenResult(out, msg.spec.output));
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
        // One copy the reply owns (the handle keeps its values), moved rather than cloned again.
        const data = Float32Array.from(h instanceof Float32Array ? h : await h.toArray());
        reply({ req: msg.req, data, compiles, ranIn: [...ranIn], kernels: kernels.size }, [data.buffer]);
      } catch (e) {
        reply({ req: msg.req, error: `read: ${String(/** @type {Error} */ (e).message ?? e)}` });
      }
      return;
    }
    case 'close': {
      // After everything queued before it: free the device buffers and let the thread end.
      for (const h of handles.values()) if (h && typeof h.delete === 'function') h.delete();
      handles.clear();
      parentPort?.close();
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
