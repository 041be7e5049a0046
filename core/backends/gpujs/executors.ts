/** Picks where kernels run: in this thread (cpu, webasm, headlessgl) or in a worker (webgpu). */
import { type Executor, type ExecutorOptions, SyncExecutor } from './executor.ts';

export type { Executor } from './executor.ts';

export function createExecutor(options: ExecutorOptions): Executor {
  return new SyncExecutor(options);
}
