/**
 * Runs KernelSpecs in a worker thread for kernels that only answer with Promises, behind
 * the synchronous Executor interface: webgpu (always asynchronous) and webasm with threads
 * (gpu.js only splits a webasm kernel over its worker pool under asyncMode).
 *
 * Uploads, kernel runs and releases are posted and not waited for: the worker runs them in
 * order while this thread goes on recording work. Only a readback blocks: it posts a read,
 * sleeps on Atomics.wait until the worker signals, and takes the values with
 * receiveMessageOnPort. So a training step costs no round trip until the host
 * asks for a value, which is the residency the GPU modes are meant to have.
 */
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { ArgumentError } from '../../errors.ts';
import { type Executor, type ExecutorOptions, type GpuJsMode, type KernelArg, loadGpuJs, modeOfKernelClass, specKey } from './executor.ts';
import * as K from './kernels.ts';
import type { KernelSpec } from './kernels.ts';

/** How long a readback may take before the worker is declared stuck. */
const READ_TIMEOUT_MS = 120_000;
/** What async-worker.mjs leaves in the signal word when its thread ends. */
const WORKER_EXITED = -1;

interface Reply {
  req: number;
  ok?: boolean;
  error?: string | null;
  kernelClass?: string;
  data?: Float32Array;
  compiles?: number;
  ranIn?: string[];
  kernels?: number;
}

/** A storage on the worker's device: just its id. */
export class WorkerHandle {
  constructor(readonly id: number) {}
}

export class WorkerExecutor implements Executor {
  readonly mode: GpuJsMode;
  actualMode: string;
  fallbackReason: string | null = null;
  compiles = 0;
  cachedKernels = 0;
  private readonly worker: Worker;
  private readonly ctrl: Int32Array;
  private readonly replies: MessagePort;
  private nextId = 1;
  private nextReq = 1;
  private destroyed = false;

  constructor(private readonly options: ExecutorOptions) {
    this.mode = options.mode;
    // Dawn reads EGL_PLATFORM with getenv(): it must be in the real environment while the
    // worker opens its EGL display (surfaceless EGL needs no X display). It is put back once
    // the adapter is up, because headless-gl in this process reads the same variable and
    // cannot create a context on the surfaceless platform.
    const webgpu = options.mode === 'webgpu';
    // headless-gl cannot create its first context in a process where Dawn already holds
    // EGL (found by running both: webgpu first left headlessgl unsupported). Probing it now
    // (gpu.js caches the answer and headless-gl its library state) keeps both usable.
    if (webgpu) void loadGpuJs().GPU.isHeadlessGLSupported;
    const eglBefore = process.env.EGL_PLATFORM;
    if (webgpu) process.env.EGL_PLATFORM = 'surfaceless';
    const ctrl = new SharedArrayBuffer(4);
    this.ctrl = new Int32Array(ctrl);
    const channel = new MessageChannel();
    this.replies = channel.port1;
    this.worker = new Worker(new URL('./async-worker.mjs', import.meta.url), {
      workerData: { ctrl, replyPort: channel.port2, cacheSize: options.cacheSize, mode: options.mode },
      transferList: [channel.port2],
    });
    // A worker must not keep the process alive once the caller is done with it.
    this.worker.unref();
    // The thread's death is reported synchronously, by the next request (WORKER_EXITED);
    // its 'error' event comes later and must not crash the process as an unhandled one.
    this.worker.on('error', () => {});
    let r: Reply;
    try {
      r = this.request({ t: 'init' });
    } finally {
      if (eglBefore === undefined) delete process.env.EGL_PLATFORM;
      else process.env.EGL_PLATFORM = eglBefore;
    }
    if (!r.ok) {
      this.destroy();
      this.actualMode = 'unavailable';
      this.fallbackReason = r.error ?? `${this.mode} init failed`;
      throw new ArgumentError(`gpujs:${this.mode}: cannot start: ${this.fallbackReason}`);
    }
    this.actualMode = modeOfKernelClass(r.kernelClass ?? 'unknown');
  }

  /** Posts a message that expects a reply and blocks until it comes. */
  private request(msg: Record<string, unknown>): Reply {
    if (this.destroyed) throw new ArgumentError(`gpujs:${this.mode}: the backend was destroyed`);
    const req = this.nextReq++;
    this.worker.postMessage({ ...msg, req });
    const deadline = Date.now() + READ_TIMEOUT_MS;
    for (;;) {
      // Read the signal word before looking at the port: a reply that lands in between then
      // makes Atomics.wait return at once ('not-equal') instead of sleeping through it.
      const seen = Atomics.load(this.ctrl, 0);
      const got = receiveMessageOnPort(this.replies);
      if (got) {
        const reply = got.message as Reply;
        if (reply.req === req) return reply;
        continue;
      }
      if (seen === WORKER_EXITED) {
        this.destroy();
        throw new ArgumentError(`gpujs:${this.mode}: the worker thread ended before answering '${String(msg.t)}'`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new ArgumentError(`gpujs:${this.mode}: the worker did not answer '${String(msg.t)}' within ${READ_TIMEOUT_MS} ms`);
      Atomics.wait(this.ctrl, 0, seen, Math.min(left, 1000));
    }
  }

  private post(msg: Record<string, unknown>): void {
    if (this.destroyed) throw new ArgumentError(`gpujs:${this.mode}: the backend was destroyed`);
    this.worker.postMessage(msg);
  }

  upload(values: Float32Array): WorkerHandle {
    const h = new WorkerHandle(this.nextId++);
    // gpu.js cannot size an empty kernel; an empty storage is never read or bound anyway.
    if (values.length === 0) return h;
    const identity = K.identity(values.length);
    this.post({ t: 'upload', id: h.id, data: values, key: specKey(identity), spec: identity });
    return h;
  }

  run(spec: KernelSpec, args: readonly KernelArg[]): WorkerHandle {
    const h = new WorkerHandle(this.nextId++);
    const wire = args.map((a) => (typeof a === 'number' ? a : { id: (a as unknown as WorkerHandle).id }));
    this.post({ t: 'run', id: h.id, key: specKey(spec), spec, args: wire });
    return h;
  }

  read(handle: unknown, size: number): Float32Array {
    const r = this.request({ t: 'read', id: (handle as WorkerHandle).id });
    if (r.error) throw new ArgumentError(`gpujs:${this.mode}: ${r.error}`);
    this.compiles = r.compiles ?? this.compiles;
    this.cachedKernels = r.kernels ?? this.cachedKernels;
    this.checkModes(r.ranIn ?? []);
    const data = r.data!;
    if (data.length !== size) throw new ArgumentError(`gpujs:${this.mode}: read ${data.length} values, expected ${size}`);
    return data;
  }

  private checkModes(classes: readonly string[]): void {
    for (const cls of classes) {
      const ran = modeOfKernelClass(cls);
      if (ran === this.mode) continue;
      this.actualMode = ran;
      this.fallbackReason = `a kernel ran in ${ran}`;
      if (this.options.strict) {
        throw new ArgumentError(`gpujs: mode '${this.mode}' was requested with strict: true, but gpu.js ran a kernel in '${ran}'`);
      }
    }
  }

  deviceBuffers(): number {
    const r = this.request({ t: 'stats' }) as Reply & { handles?: number };
    if (r.error) throw new ArgumentError(`gpujs:${this.mode}: ${r.error}`);
    return r.handles ?? 0;
  }

  release(handle: unknown): void {
    if (this.destroyed) return;
    this.post({ t: 'release', id: (handle as WorkerHandle).id });
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    // The worker closes itself after the messages before this one. terminate() here would stop
    // it mid-call into Dawn (a queued release destroying a GPU buffer), and Dawn's binding then
    // throws into a terminating thread: a fatal error that takes the whole process down.
    this.worker.postMessage({ t: 'close' });
  }
}
