/**
 * Runs KernelSpecs on one gpu.js GPU instance, in this thread, synchronously (the cpu,
 * webasm and headlessgl modes). Kernels are compiled once per (source, constants, output)
 * and kept in a bounded LRU cache; the mode each kernel really runs in is read back from
 * gpu.js (it falls back to cpu silently) and checked against the requested one.
 */
import { createRequire } from 'node:module';
import { ArgumentError } from '../../errors.ts';
import * as K from './kernels.ts';
import type { KernelSpec } from './kernels.ts';
import { LruCache, flattenResult, kernelSettings } from './kernel-runtime.mjs';

const require = createRequire(import.meta.url);

/** The gpu.js modes this backend drives. */
export type GpuJsMode = 'webgpu' | 'headlessgl' | 'webasm' | 'cpu';

/** A kernel argument: a host array, a gpu.js texture/buffer handle, or a number. */
export type KernelValue = Float32Array | GpuJsTexture;
export type KernelArg = KernelValue | number;

/** The part of gpu.js's Texture the backend uses. */
export interface GpuJsTexture {
  toArray(): Float32Array | Promise<Float32Array>;
  delete(): void;
}

/** The part of a gpu.js kernel run shortcut the backend uses. */
interface GpuJsKernel {
  (...args: unknown[]): unknown;
  kernel: { constructor: { name: string }; fallbackReason?: string; destroy?: (removeCanvasReferences?: boolean) => void } & Record<string, unknown>;
}

interface GpuJsInstance {
  createKernel(source: string, settings: Record<string, unknown>): GpuJsKernel;
  destroy(): void;
  Kernel: { name: string };
  /** Every kernel gpu.js built and has not destroyed. */
  kernels: unknown[];
  /** The GL context of GL modes, once a kernel has made it. */
  context?: { getExtension?(name: string): { destroy(): void } | null };
}

/** gpu.js kernel class names and the mode each one is. */
const KERNEL_CLASS_MODE: Record<string, GpuJsMode | 'webgl' | 'webgl2'> = {
  HeadlessGLKernel: 'headlessgl',
  WebGLKernel: 'webgl',
  WebGL2Kernel: 'webgl2',
  WebAssemblyKernel: 'webasm',
  WebGPUKernel: 'webgpu',
  CPUKernel: 'cpu',
};

export function modeOfKernelClass(name: string): string {
  return KERNEL_CLASS_MODE[name] ?? name;
}

export interface GpuJsModule {
  GPU: (new (settings: Record<string, unknown>) => GpuJsInstance) & {
    isHeadlessGLSupported: boolean;
    isWebAssemblySupported: boolean;
    isWebGPUSupported: boolean;
  };
}

export function loadGpuJs(): GpuJsModule {
  return require('gpu.js') as GpuJsModule;
}

export function specKey(s: KernelSpec): string {
  return `${s.name}|${s.output}|${JSON.stringify(s.constants)}|${s.argSizes?.join(',') ?? ''}`;
}

export interface ExecutorOptions {
  mode: GpuJsMode;
  /** Throw instead of running a kernel that gpu.js moved to another mode. */
  strict: boolean;
  cacheSize: number;
  /** webasm only: run kernels under asyncMode in a worker, so gpu.js splits them over its thread pool. */
  threads?: boolean;
}

/** What the backend needs from whatever runs its kernels (in this thread or a worker). */
export interface Executor {
  readonly mode: GpuJsMode;
  readonly actualMode: string;
  readonly fallbackReason: string | null;
  readonly compiles: number;
  readonly cachedKernels: number;
  upload(values: Float32Array): unknown;
  run(spec: KernelSpec, args: readonly KernelArg[]): unknown;
  /** Values of a handle (size elements) on the host: the one readback path. */
  read(handle: unknown, size: number): Float32Array;
  release(handle: unknown): void;
  /** Buffers alive on the device, where the executor can count them (the webgpu worker). */
  deviceBuffers?(): number;
  destroy(): void;
}

export class SyncExecutor implements Executor {
  readonly mode: GpuJsMode;
  /** The mode kernels were last seen running in (differs from `mode` after a fallback). */
  actualMode: string;
  compiles = 0;
  fallbackReason: string | null = null;
  private readonly gpu: GpuJsInstance;
  private readonly cache: LruCache<GpuJsKernel>;
  /** GPU modes hand out device-resident textures; the others plain arrays. */
  readonly resident: boolean;

  constructor(private readonly options: ExecutorOptions) {
    this.mode = options.mode;
    const { GPU } = loadGpuJs();
    let gpu: GpuJsInstance;
    try {
      gpu = new GPU({ mode: options.mode });
    } catch (e) {
      // gpu.js refuses an explicit mode it cannot run (headlessgl without gl or a display).
      const why = `gpu.js cannot run '${options.mode}' here: ${(e as Error).message}` +
        (options.mode === 'headlessgl' ? ' (headless-gl needs the `gl` build and an X display: run under `xvfb-run -a`)' : '');
      if (options.strict) throw new ArgumentError(`GpuJsBackend: ${why}`);
      this.fallbackReason = why;
      gpu = new GPU({ mode: 'cpu' });
    }
    this.gpu = gpu;
    this.actualMode = modeOfKernelClass(this.gpu.Kernel.name);
    this.resident = this.actualMode === 'headlessgl';
    this.cache = new LruCache<GpuJsKernel>(options.cacheSize, (k) => retireKernel(this.gpu, k));
  }

  get cachedKernels(): number {
    return this.cache.size;
  }

  private kernelFor(spec: KernelSpec): GpuJsKernel {
    const key = specKey(spec);
    let k = this.cache.get(key);
    if (!k) {
      k = this.gpu.createKernel(spec.source, kernelSettings(spec, { pipeline: this.resident }));
      this.compiles++;
      this.cache.set(key, k);
    }
    return k;
  }

  run(spec: KernelSpec, args: readonly KernelArg[]): KernelValue {
    const k = this.kernelFor(spec);
    let out: unknown;
    try {
      out = k(...args);
    } catch (e) {
      throw new ArgumentError(`gpujs:${this.mode}: kernel '${spec.name}' failed: ${(e as Error).message}\n${spec.source}`);
    }
    const ran = modeOfKernelClass(k.kernel.constructor.name);
    if (ran !== this.actualMode) {
      this.actualMode = ran;
      this.fallbackReason = k.kernel.fallbackReason ?? `kernel '${spec.name}' ran in ${ran}`;
    }
    if (ran !== this.mode && this.options.strict) {
      throw new ArgumentError(
        `gpujs: mode '${this.mode}' was requested with strict: true, but gpu.js ran kernel '${spec.name}' in '${ran}'` +
          (k.kernel.fallbackReason ? ` (${k.kernel.fallbackReason})` : ''),
      );
    }
    return (spec.output2d || (spec.components ?? 1) > 1 ? flattenResult(out, spec.output) : out) as KernelValue;
  }

  upload(values: Float32Array): KernelValue {
    // Resident modes copy host values into a texture once, so kernels only ever see textures
    // (one argument type per kernel: gpu.js would otherwise compile a variant per type).
    if (!this.resident || values.length === 0) return values.slice();
    return this.run(K.identity(values.length), [values]);
  }

  read(handle: unknown, _size: number): Float32Array {
    if (handle instanceof Float32Array) return handle.slice();
    const v = (handle as GpuJsTexture).toArray();
    if (!(v instanceof Float32Array)) throw new ArgumentError(`gpujs:${this.mode}: a synchronous readback returned ${String(v)}`);
    return v;
  }

  release(handle: unknown): void {
    if (handle instanceof Float32Array) return;
    (handle as GpuJsTexture).delete();
  }

  destroy(): void {
    this.cache.clear();
    // headless-gl contexts live until destroyed explicitly (each GPU instance makes its own).
    this.gpu.context?.getExtension?.('STACKGL_destroy_context')?.destroy();
  }
}

/**
 * Frees what an evicted kernel holds and drops gpu.js's own reference to it (GPU keeps
 * every kernel it built in `gpu.kernels`: without this the LRU bounded nothing, and each
 * evicted webasm kernel kept its WebAssembly memories alive). Outputs that tensors still
 * own survive: webasm and cpu results are host copies, webgpu output buffers are
 * reference-counted. GL kernels are taken apart by hand because gpu.js's own destroy()
 * deletes every texture the kernel ever created (tensors' included) and then drops the
 * context their later delete() needs.
 */
function retireKernel(gpu: GpuJsInstance, k: GpuJsKernel): void {
  const kernel = k.kernel;
  const gl = kernel.context as WebGLLike | undefined;
  if (gl && typeof gl.deleteProgram === 'function') {
    if (kernel.program) gl.deleteProgram(kernel.program);
    if (kernel.fragShader) gl.deleteShader(kernel.fragShader);
    if (kernel.vertShader) gl.deleteShader(kernel.vertShader);
    if (kernel.buffer) gl.deleteBuffer(kernel.buffer);
    if (kernel.framebuffer) gl.deleteFramebuffer(kernel.framebuffer);
    kernel.program = null;
    // The kernel's own reference to its last output (tensors hold clones: refcounted), and
    // its argument slots (their upload textures and references to the last inputs).
    (kernel.texture as { delete(): void } | null)?.delete();
    kernel.texture = null;
    for (const arg of (kernel.kernelArguments as { destroy(): void }[] | undefined) ?? []) arg.destroy();
    kernel.kernelArguments = [];
  } else {
    kernel.destroy?.(false);
  }
  const at = gpu.kernels.indexOf(kernel);
  if (at >= 0) gpu.kernels.splice(at, 1);
}

interface WebGLLike {
  deleteProgram(p: unknown): void;
  deleteShader(s: unknown): void;
  deleteBuffer(b: unknown): void;
  deleteFramebuffer(f: unknown): void;
}
