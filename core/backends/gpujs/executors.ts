/**
 * Picks where kernels run: in this thread (cpu, webasm, headlessgl) or in a worker (webgpu,
 * and webasm with threads), whose kernels only answer with Promises.
 */
import { type Executor, type ExecutorOptions, SyncExecutor } from './executor.ts';
import { WorkerExecutor } from './worker-executor.ts';

export type { Executor } from './executor.ts';

export function createExecutor(options: ExecutorOptions): Executor {
  if (options.mode !== 'webgpu' && !options.threads) return new SyncExecutor(options);
  try {
    return new WorkerExecutor(options);
  } catch (e) {
    if (options.strict) throw e;
    // Like gpu.js itself, fall back to cpu, but say so (backend.mode, backend.fallbackReason).
    const cpu = new SyncExecutor({ ...options, mode: 'cpu', threads: false });
    cpu.fallbackReason = (e as Error).message;
    return cpu;
  }
}
