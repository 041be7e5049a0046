/** Picks where kernels run: in this thread (cpu, webasm, headlessgl) or in a worker (webgpu). */
import { type Executor, type ExecutorOptions, SyncExecutor } from './executor.ts';
import { WorkerExecutor } from './worker-executor.ts';

export type { Executor } from './executor.ts';

export function createExecutor(options: ExecutorOptions): Executor {
  return options.mode === 'webgpu' ? new WorkerExecutor(options) : new SyncExecutor(options);
}
