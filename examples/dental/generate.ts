/**
 * Writes a generated dataset to disk:
 *
 *   <out>/target/upper_front_00017.png      the realistic render (what the model learns to produce)
 *   <out>/lighting/…  segmentation/…  depth/…  normal/…  edges/…   aligned condition maps
 *   <out>/source/…                           the condition: lighting + segmentation through the chosen blender,
 *                                            or the target through the chosen extractor
 *   <out>/prompt.json                        CtrLoRA layout: JSON Lines {"source","target","prompt"}
 *   <out>/dataset.json                       how it was made (seed, size, count, blender, maps)
 *
 * Samples depend only on (seed, index), so they can be rendered in any order and in parallel
 * (worker threads, each taking every k-th index) and the bytes are the same either way.
 *
 * Everything is written into a hidden staging folder beside <out> and moved into place when the
 * last file is written (one rename when <out> is new or empty), so a run that fails or is stopped
 * never leaves a folder that the loader would read as a smaller, complete dataset.
 */
import { mkdir, mkdtemp, readdir, realpath, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { conditionLabel, type ConditionSource } from './condition.ts';
import { encodePng } from './image-io.ts';
import { type DentalRecipe, conditionFrom, loadDentalRecipe } from './recipe-file.ts';
import { generateSample, MAP_NAMES, type GeneratedSample } from './sample.ts';

export interface GenerateOptions {
  outDir: string;
  count: number;
  seed: number;
  width: number;
  height: number;
  /** The condition (source/): a blender's name, or an extractor's (default: the recipe's selection, else mask-composite). */
  blender?: string;
  blenderOptions?: Record<string, unknown>;
  extractor?: string;
  extractorOptions?: Record<string, unknown>;
  /** A recipe file whose plugins (a user's blender or extractor) the names above are looked up among; worker threads load it too. */
  recipe?: string;
  /** Worker threads (1: render on this thread). */
  workers: number;
  /** Write into a folder that already has files. */
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
  /** Stops the run (between samples; worker threads are terminated); nothing is left in the output folder. */
  signal?: AbortSignal;
}

export interface PromptRecord {
  source: string;
  target: string;
  prompt: string;
}

/** What a sample needs to know (also what a worker thread gets). */
export type SampleSettings = Pick<GenerateOptions, 'seed' | 'width' | 'height' | 'blender' | 'blenderOptions' | 'extractor' | 'extractorOptions' | 'recipe'>;

/** The recipe of a run, built once per thread (plugins are modules: a worker builds its own). */
const recipes = new Map<string | undefined, Promise<DentalRecipe>>();

async function conditionFor(o: SampleSettings): Promise<ConditionSource> {
  let recipe = recipes.get(o.recipe);
  if (!recipe) recipes.set(o.recipe, (recipe = loadDentalRecipe(o.recipe)));
  return conditionFrom(await recipe, o, 'mask-composite');
}

/** Renders and writes sample `index`; returns its prompt.json record. */
export async function writeSample(outDir: string, index: number, o: SampleSettings): Promise<PromptRecord> {
  const s: GeneratedSample = generateSample(index, { seed: o.seed, width: o.width, height: o.height, ...(await conditionFor(o)) });
  await Promise.all(MAP_NAMES.map(async (m) => writeFile(join(outDir, m, s.fileName), await encodePng(s.maps[m]))));
  return { source: `source/${s.fileName}`, target: `target/${s.fileName}`, prompt: s.prompt };
}

async function checkOptions(o: GenerateOptions): Promise<ConditionSource> {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new RangeError(`generate: option ${name} must be an integer >= ${min}, got ${v}`);
  };
  int('count', o.count, 1);
  int('seed', o.seed, 0);
  int('width', o.width, 16);
  int('height', o.height, 16);
  int('workers', o.workers, 1);
  return conditionFor(o); // fails early, listing the registered names, on an unknown blender or extractor
}

/** The entries of `dir`, or none when it does not exist yet. */
async function entriesOf(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Moves the finished dataset from `staging` to `outDir`: one rename if `outDir` is new or empty, else file by file with prompt.json and dataset.json last. */
async function publish(staging: string, outDir: string, outHasFiles: boolean): Promise<void> {
  if (!outHasFiles) {
    await rmdir(outDir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await rename(staging, outDir);
    return;
  }
  for (const m of MAP_NAMES) {
    await mkdir(join(outDir, m), { recursive: true });
    for (const f of await readdir(join(staging, m))) await rename(join(staging, m, f), join(outDir, m, f));
  }
  for (const f of ['prompt.json', 'dataset.json']) await rename(join(staging, f), join(outDir, f));
  await rm(staging, { recursive: true, force: true });
}

/** The run's records, its time, and its condition source as `blender alpha` or `extractor canny`. */
export async function generateDataset(o: GenerateOptions): Promise<{ records: PromptRecord[]; seconds: number; condition: string }> {
  const condition = await checkOptions(o);
  const started = performance.now();
  const existing = await entriesOf(o.outDir);
  if (existing.length > 0 && !o.overwrite) {
    throw new Error(`generate: output folder ${o.outDir} is not empty (${existing.length} entries); pick an empty one or pass --overwrite`);
  }
  // the staging folder goes beside the real folder (through a link), so the final renames stay on one file system
  const outDir = await realpath(o.outDir).catch(() => resolve(o.outDir));
  await mkdir(dirname(outDir), { recursive: true });
  const staging = await mkdtemp(join(dirname(outDir), `.${basename(outDir)}.partial-`));
  try {
    const records = await writeAll(staging, o, condition);
    await publish(staging, outDir, existing.length > 0);
    return { records, seconds: (performance.now() - started) / 1000, condition: conditionLabel(condition)! };
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
}

/** Renders every sample into `dir` (an empty folder), then writes prompt.json and dataset.json. */
async function writeAll(dir: string, o: GenerateOptions, condition: ConditionSource): Promise<PromptRecord[]> {
  for (const m of MAP_NAMES) await mkdir(join(dir, m));
  const records: PromptRecord[] = new Array(o.count);
  let done = 0;
  const tick = () => o.onProgress?.(++done, o.count);
  const workers = Math.min(o.workers, o.count);
  const sampleOptions: SampleSettings = {
    seed: o.seed, width: o.width, height: o.height, blender: condition.blender?.name, blenderOptions: o.blenderOptions,
    extractor: condition.extractor?.name, extractorOptions: o.extractorOptions, recipe: o.recipe,
  };
  if (workers <= 1) {
    for (let i = 0; i < o.count; i++) {
      o.signal?.throwIfAborted();
      records[i] = await writeSample(dir, i, sampleOptions);
      tick();
    }
  } else {
    // The worker module is TypeScript: a tiny bootstrap registers tsx in the thread, then imports it.
    const entry = new URL('./generate-worker.ts', import.meta.url).href;
    const tsxApi = import.meta.resolve('tsx/esm/api'); // absolute, so the thread finds it from any cwd
    const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    const threads = Array.from({ length: workers }, (_, w) => new Worker(bootstrap, {
      eval: true,
      workerData: { outDir: dir, first: w, step: workers, count: o.count, options: sampleOptions },
    }));
    const aborted = new Promise<never>((_, reject) => {
      if (o.signal?.aborted) reject(o.signal.reason);
      o.signal?.addEventListener('abort', () => reject(o.signal!.reason), { once: true });
    });
    aborted.catch(() => {}); // it only matters inside the race below
    try {
      await Promise.race([aborted, Promise.all(threads.map((worker, w) => new Promise<void>((resolve, reject) => {
        worker.on('message', (m: { index: number; record: PromptRecord }) => {
          records[m.index] = m.record;
          tick();
        });
        worker.on('error', reject);
        worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`generate: worker ${w} exited with code ${code}`))));
      })))]);
    } catch (e) {
      // a thread failed or the run was stopped: end the threads before the caller removes the folder they write into
      await Promise.all(threads.map((t) => t.terminate()));
      throw e;
    }
  }
  await writeFile(join(dir, 'prompt.json'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const meta = {
    generator: 'ctrlora-ts examples/dental procedural generator',
    seed: o.seed, count: o.count, width: o.width, height: o.height,
    ...(condition.extractor
      ? { extractor: condition.extractor.name, extractorOptions: o.extractorOptions ?? {} }
      : { blender: condition.blender!.name, blenderOptions: o.blenderOptions ?? {} }),
    ...(o.recipe ? { recipe: o.recipe } : {}),
    maps: MAP_NAMES,
    layout: 'CtrLoRA prompt.json (JSON Lines: source, target, prompt) plus one folder per map, files matched by name',
  };
  await writeFile(join(dir, 'dataset.json'), JSON.stringify(meta, null, 2) + '\n');
  return records;
}
