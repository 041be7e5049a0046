/**
 * Writes a generated dataset to disk:
 *
 *   <out>/target/upper_front_00017.png      the realistic render (what the model learns to produce)
 *   <out>/lighting/…  segmentation/…  depth/…  normal/…  edges/…   aligned condition maps
 *   <out>/source/…                           lighting + segmentation through the chosen blender
 *   <out>/prompt.json                        CtrLoRA layout: JSON Lines {"source","target","prompt"}
 *   <out>/dataset.json                       how it was made (seed, size, count, blender, maps)
 *
 * Samples depend only on (seed, index), so they can be rendered in any order and in parallel
 * (worker threads, each taking every k-th index) and the bytes are the same either way.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { blenderByName, blenderContainer } from '../../plugins/blenders/index.ts';
import { encodePng } from './image-io.ts';
import { generateSample, MAP_NAMES, type GeneratedSample } from './sample.ts';

export interface GenerateOptions {
  outDir: string;
  count: number;
  seed: number;
  width: number;
  height: number;
  blender: string;
  blenderOptions?: Record<string, unknown>;
  /** Worker threads (1: render on this thread). */
  workers: number;
  /** Write into a folder that already has files. */
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface PromptRecord {
  source: string;
  target: string;
  prompt: string;
}

const blenders = blenderContainer();
function blenderFor(name: string) {
  return blenderByName(blenders, name);
}

/** Renders and writes sample `index`; returns its prompt.json record. */
export async function writeSample(outDir: string, index: number, o: Omit<GenerateOptions, 'outDir' | 'count' | 'workers'>): Promise<PromptRecord> {
  const s: GeneratedSample = generateSample(index, { seed: o.seed, width: o.width, height: o.height, blender: blenderFor(o.blender), blenderOptions: o.blenderOptions });
  await Promise.all(MAP_NAMES.map(async (m) => writeFile(join(outDir, m, s.fileName), await encodePng(s.maps[m]))));
  return { source: `source/${s.fileName}`, target: `target/${s.fileName}`, prompt: s.prompt };
}

function checkOptions(o: GenerateOptions): void {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`generate: option ${name} must be an integer >= ${min}, got ${v}`);
  };
  int('count', o.count, 1);
  int('seed', o.seed, 0);
  int('width', o.width, 16);
  int('height', o.height, 16);
  int('workers', o.workers, 1);
  blenderFor(o.blender); // fails early, listing the blenders, on an unknown name
}

export async function generateDataset(o: GenerateOptions): Promise<{ records: PromptRecord[]; seconds: number }> {
  checkOptions(o);
  const started = performance.now();
  await mkdir(o.outDir, { recursive: true });
  const existing = await readdir(o.outDir);
  if (existing.length > 0 && !o.overwrite) {
    throw new Error(`generate: output folder ${o.outDir} is not empty (${existing.length} entries); pick an empty one or pass --overwrite`);
  }
  for (const m of MAP_NAMES) await mkdir(join(o.outDir, m), { recursive: true });
  const records: PromptRecord[] = new Array(o.count);
  let done = 0;
  const tick = () => o.onProgress?.(++done, o.count);
  const workers = Math.min(o.workers, o.count);
  const sampleOptions = { seed: o.seed, width: o.width, height: o.height, blender: o.blender, blenderOptions: o.blenderOptions };
  if (workers <= 1) {
    for (let i = 0; i < o.count; i++) {
      records[i] = await writeSample(o.outDir, i, sampleOptions);
      tick();
    }
  } else {
    await Promise.all(
      Array.from({ length: workers }, (_, w) => new Promise<void>((resolve, reject) => {
        // The worker module is TypeScript: a tiny bootstrap registers tsx in the thread, then imports it.
        const entry = new URL('./generate-worker.ts', import.meta.url).href;
        const tsxApi = import.meta.resolve('tsx/esm/api'); // absolute, so the thread finds it from any cwd
        const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
        const worker = new Worker(bootstrap, {
          eval: true,
          workerData: { outDir: o.outDir, first: w, step: workers, count: o.count, options: sampleOptions },
        });
        worker.on('message', (m: { index: number; record: PromptRecord }) => {
          records[m.index] = m.record;
          tick();
        });
        worker.on('error', reject);
        worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`generate: worker ${w} exited with code ${code}`))));
      })),
    );
  }
  await writeFile(join(o.outDir, 'prompt.json'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const meta = {
    generator: 'ctrlora-ts examples/dental procedural generator',
    seed: o.seed, count: o.count, width: o.width, height: o.height,
    blender: o.blender, blenderOptions: o.blenderOptions ?? {},
    maps: MAP_NAMES,
    layout: 'CtrLoRA prompt.json (JSON Lines: source, target, prompt) plus one folder per map, files matched by name',
  };
  await writeFile(join(o.outDir, 'dataset.json'), JSON.stringify(meta, null, 2) + '\n');
  return { records, seconds: (performance.now() - started) / 1000 };
}
