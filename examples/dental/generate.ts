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
 * Everything is written into a hidden staging folder beside <out> (`.<out>.partial`) and moved
 * into place when the last file is written, so a run that fails or is stopped never leaves a
 * folder that the loader would read as a smaller, complete dataset. A stopped run's staging
 * folder is resumed by the next run with the same options: each finished sample is journalled
 * with the SHA-1 of its files, which the resume checks before trusting them. The lock, the
 * checks made before rendering and the --overwrite swap are in output-folder.ts.
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { conditionLabel, type ConditionSource } from './condition.ts';
import { encodePng } from './image-io.ts';
import { type DentalRecipe, conditionFrom, loadDentalRecipe } from './recipe-file.ts';
import { exists, fsProblem, OutputFolder, worded } from './output-folder.ts';
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
  /** Replace the dataset in a folder that already has one (old and new files never mix). */
  overwrite?: boolean;
  /** Samples done so far (those resumed from a stopped run included) out of the total. */
  onProgress?: (done: number, total: number) => void;
  /** What the run found and did about it: a resumed run, a stale lock, leftovers removed. */
  onNotice?: (message: string) => void;
  /**
   * Stops the run (between samples; worker threads are terminated). Nothing reaches the
   * output folder; the samples done stay in the staging folder for the next run to resume.
   */
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

/** A finished sample: its prompt.json record and the SHA-1 of each map's file (checked on resume). */
export interface WrittenSample {
  index: number;
  record: PromptRecord;
  sha1: Record<string, string>;
}

const sha1 = (bytes: Uint8Array) => createHash('sha1').update(bytes).digest('hex');

/** Renders and writes sample `index`. */
export async function writeSample(outDir: string, index: number, o: SampleSettings): Promise<WrittenSample> {
  const s: GeneratedSample = generateSample(index, { seed: o.seed, width: o.width, height: o.height, ...(await conditionFor(o)) });
  const hashes = await Promise.all(MAP_NAMES.map(async (m) => {
    const png = await encodePng(s.maps[m]);
    const file = join(outDir, m, s.fileName);
    await worded('write', () => writeFile(file, png), file); // a failed write (ENOSPC) names no path itself
    return [m, sha1(png)] as const;
  }));
  return { index, record: { source: `source/${s.fileName}`, target: `target/${s.fileName}`, prompt: s.prompt }, sha1: Object.fromEntries(hashes) };
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

const GENERATOR = 'ctrlora-ts examples/dental procedural generator';

/** Whether `dir` holds a dataset this generator wrote (what --overwrite may replace). */
async function isGeneratedDataset(dir: string): Promise<boolean> {
  const meta = await readFile(join(dir, 'dataset.json'), 'utf8').then((t) => JSON.parse(t) as { generator?: unknown }, () => null);
  return meta?.generator === GENERATOR;
}

/** What a staging folder renders; a resume needs the same. */
const runKey = (o: GenerateOptions) => JSON.stringify({
  seed: o.seed, count: o.count, width: o.width, height: o.height, blender: o.blender, blenderOptions: o.blenderOptions ?? {},
  extractor: o.extractor, extractorOptions: o.extractorOptions ?? {}, recipe: o.recipe,
});

/**
 * Prepares the staging folder: resumes it when it renders the same run (keeping the journalled
 * samples whose files still hash to what was written), else starts it afresh.
 */
async function prepareStaging(staging: string, o: GenerateOptions, notice: (m: string) => void): Promise<Map<number, WrittenSample>> {
  const done = new Map<number, WrittenSample>();
  const key = runKey(o);
  const journal = join(staging, 'progress.jsonl');
  const previous = await readFile(join(staging, 'run.json'), 'utf8').catch(() => null);
  if (previous === key) {
    let damaged = 0;
    for (const line of (await readFile(journal, 'utf8').catch(() => '')).split('\n')) {
      let d: WrittenSample;
      try {
        d = JSON.parse(line) as WrittenSample;
      } catch {
        continue; // empty, or the line a killed run was writing
      }
      if (!Number.isInteger(d.index) || d.index < 0 || d.index >= o.count || typeof d.record?.target !== 'string') continue;
      const file = d.record.target.slice('target/'.length);
      const intact = await Promise.all(MAP_NAMES.map(async (m) => sha1(await readFile(join(staging, m, file)).catch(() => new Uint8Array(0))) === d.sha1?.[m]));
      if (intact.every(Boolean)) done.set(d.index, d);
      else damaged++;
    }
    await worded('write', () => writeFile(journal, [...done.values()].map((d) => JSON.stringify(d) + '\n').join('')));
    notice(`resuming the stopped run in ${staging}: ${done.size} of ${o.count} samples already rendered and verified` +
      (damaged ? `, ${damaged} damaged ones are rendered again` : ''));
    return done;
  }
  if (await exists(staging)) {
    await worded('remove', () => rm(staging, { recursive: true, force: true }));
    notice(`removed ${staging}, the partial output of a stopped run with other options (${previous ?? 'unknown'})`);
  }
  await worded('create the staging folder', async () => {
    for (const m of MAP_NAMES) await mkdir(join(staging, m), { recursive: true });
    await writeFile(join(staging, 'run.json'), key);
  });
  return done;
}

export async function generateDataset(o: GenerateOptions): Promise<{ records: PromptRecord[]; seconds: number; resumed: number; condition: string }> {
  const condition = await checkOptions(o);
  const started = performance.now();
  const notice = o.onNotice ?? (() => {});
  const folder = await OutputFolder.open(o.outDir, { overwrite: o.overwrite ?? false, isOurDataset: isGeneratedDataset, notice });
  let done = new Map<number, WrittenSample>();
  try {
    done = await prepareStaging(folder.staging, o, notice);
    const resumed = done.size;
    const records = await writeAll(folder.staging, o, done, condition);
    await folder.publish();
    return { records, seconds: (performance.now() - started) / 1000, resumed, condition: conditionLabel(condition)! };
  } catch (e) {
    const kept = done.size > 0 && (await exists(folder.staging));
    if (!kept) await rm(folder.staging, { recursive: true, force: true });
    const err = fsProblem('write', e);
    const n = done.size;
    if (kept) err.message += ` (the ${n === 1 ? '1 sample' : `${n} samples`} done ${n === 1 ? 'is' : 'are'} kept in ${folder.staging}: the same command resumes from them)`;
    throw err;
  } finally {
    await folder.release();
  }
}

/**
 * Renders every sample not in `done` into the staging folder `dir`, journalling each as it
 * finishes (into `done` too), then writes dataset.json and, last, prompt.json.
 */
async function writeAll(dir: string, o: GenerateOptions, done: Map<number, WrittenSample>, condition: ConditionSource): Promise<PromptRecord[]> {
  const todo = Array.from({ length: o.count }, (_, i) => i).filter((i) => !done.has(i));
  const journal = join(dir, 'progress.jsonl');
  let journalled = Promise.resolve();
  const finished = (w: WrittenSample) => {
    done.set(w.index, w);
    journalled = journalled.then(() => worded('write', () => appendFile(journal, JSON.stringify(w) + '\n'), journal));
    journalled.catch(() => {}); // awaited below; this only keeps a failed write from going unhandled meanwhile
    o.onProgress?.(done.size, o.count);
  };
  const workers = Math.min(o.workers, todo.length);
  const sampleOptions: SampleSettings = {
    seed: o.seed, width: o.width, height: o.height, blender: condition.blender?.name, blenderOptions: o.blenderOptions,
    extractor: condition.extractor?.name, extractorOptions: o.extractorOptions, recipe: o.recipe,
  };
  if (workers <= 1) {
    for (const i of todo) {
      o.signal?.throwIfAborted();
      finished(await writeSample(dir, i, sampleOptions));
    }
  } else {
    // The worker module is TypeScript: a tiny bootstrap registers tsx in the thread, then imports it.
    const entry = new URL('./generate-worker.ts', import.meta.url).href;
    const tsxApi = import.meta.resolve('tsx/esm/api'); // absolute, so the thread finds it from any cwd
    const bootstrap = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
    const threads = Array.from({ length: workers }, (_, w) => new Worker(bootstrap, {
      eval: true,
      workerData: { outDir: dir, indices: todo.filter((_, k) => k % workers === w), options: sampleOptions },
    }));
    const aborted = new Promise<never>((_, reject) => {
      if (o.signal?.aborted) reject(o.signal.reason);
      o.signal?.addEventListener('abort', () => reject(o.signal!.reason), { once: true });
    });
    aborted.catch(() => {}); // it only matters inside the race below
    try {
      await Promise.race([aborted, Promise.all(threads.map((worker, w) => new Promise<void>((resolve, reject) => {
        worker.on('message', (m: WrittenSample) => finished(m));
        worker.on('error', reject);
        worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`generate: worker ${w} exited with code ${code}`))));
      })))]);
    } catch (e) {
      // a thread failed or the run was stopped: end the threads before the caller removes the folder they write into
      await Promise.all(threads.map((t) => t.terminate()));
      throw e;
    } finally {
      await journalled.catch(() => {});
    }
  }
  await journalled;
  const records = Array.from({ length: o.count }, (_, i) => done.get(i)!.record);
  const meta = {
    generator: GENERATOR,
    seed: o.seed, count: o.count, width: o.width, height: o.height,
    ...(condition.extractor
      ? { extractor: condition.extractor.name, extractorOptions: o.extractorOptions ?? {} }
      : { blender: condition.blender!.name, blenderOptions: o.blenderOptions ?? {} }),
    ...(o.recipe ? { recipe: o.recipe } : {}),
    maps: MAP_NAMES,
    layout: 'CtrLoRA prompt.json (JSON Lines: source, target, prompt) plus one folder per map, files matched by name',
  };
  await writeFile(join(dir, 'dataset.json'), JSON.stringify(meta, null, 2) + '\n');
  // prompt.json last: its presence marks a complete staging folder (see OutputFolder.recoverSwap)
  await writeFile(join(dir, 'prompt.json'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return records;
}
