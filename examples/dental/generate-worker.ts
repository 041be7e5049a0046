/** Worker thread of the dataset writer: renders and writes the samples it is given, reporting each. */
import { parentPort, workerData } from 'node:worker_threads';
import { type SampleSettings, writeSample } from './generate.ts';

const { outDir, indices, options } = workerData as { outDir: string; indices: number[]; options: SampleSettings };
for (const i of indices) parentPort!.postMessage(await writeSample(outDir, i, options));
