/** Worker thread of the dataset writer: renders and writes every `step`-th sample from `first`. */
import { parentPort, workerData } from 'node:worker_threads';
import { writeSample } from './generate.ts';

const { outDir, first, step, count, options } = workerData as {
  outDir: string; first: number; step: number; count: number;
  options: Parameters<typeof writeSample>[2];
};
for (let i = first; i < count; i += step) {
  const record = await writeSample(outDir, i, options);
  parentPort!.postMessage({ index: i, record });
}
