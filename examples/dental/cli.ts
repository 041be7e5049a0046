/**
 * The dental example's command line: `npm run dental -- <command> [options]`.
 *   generate       render a procedural dataset (CtrLoRA layout + every condition map)
 *   blend-preview  a grid of lighting | segmentation | each blend
 *   preview        a grid of every map of some generated samples
 *   check          open a dataset folder with the loader and report what it found
 *   pretrain       stage 1: the base (VAE, text encoder + UNet, ctrLoRA base ControlNet)
 *   train          stage 2: a ctrLoRA adapter for a new condition on the frozen base
 *   sample         images from the base and one or several adapters
 *   (no command)   the main job: data if missing, the shipped base, the adapter, samples
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { blenderByName, blenderContainer, registeredBlenders } from '../../plugins/blenders/index.ts';
import { DentalDataset } from './dataset.ts';
import { generateDataset } from './generate.ts';
import { loadDentalRecipe, recipeOption, recipeSettings, withRecipe } from './recipe-file.ts';
import { blendPreviewPng, sampleGridPng } from './preview.ts';
import { addRecipeCommands, mainJob } from './recipe/commands.ts';

function integer(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got "${value}"`);
    }
    return n;
  };
}

/** A comma-separated list of sample indices. */
function indexList(value: string): number[] {
  return value.split(',').map((s) => integer(0)(s));
}

/** `key=value` pairs into an options object; values are read as JSON when they parse (numbers, arrays), else strings. */
function keyValue(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}"`);
  const key = value.slice(0, eq), raw = value.slice(eq + 1);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = raw;
  }
  return { ...previous, [key]: parsed };
}

const blenders = blenderContainer();
const blenderNames = registeredBlenders(blenders).map((b) => b.name);

function pickBlenders(list: string | undefined) {
  const names = list ? list.split(',').map((s) => s.trim()).filter(Boolean) : blenderNames;
  if (names.length === 0) throw new InvalidArgumentError(`--blenders: no blender named in "${list}"; registered: ${blenderNames.join(', ')}`);
  return names.map((n) => blenderByName(blenders, n));
}

async function writePngFile(path: string, png: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, png);
}

const program = new Command()
  .name('npm run dental --')
  .description('The ctrLoRA dental example: procedural dental data, condition blends, pretraining of a base, adapter training and sampling.')
  .showHelpAfterError('(add --help for the options)');

program
  .command('generate')
  .description(
    'Render a procedural 3D dental dataset: target/, lighting/, segmentation/, depth/, normal/, edges/ and source/ ' +
      '(the blended condition) with one PNG per sample named <jaw>_<view>_<index>.png, plus prompt.json (CtrLoRA JSON Lines: ' +
      'source, target, prompt) and dataset.json. Same seed, same bytes.',
  )
  .option('-o, --out <dir>', 'output folder; must be empty or new (see --overwrite)', 'runs/dental-data')
  .option('-n, --count <n>', 'number of samples (jaw and view cycle, so every combination appears in any 10)', integer(1), 2000)
  .option('-s, --seed <n>', 'random seed: every sample is a function of (seed, index)', integer(0), 0)
  .option('--size <px>', 'width and height of every image in pixels', integer(16, 4096), 128)
  .option('--width <px>', 'image width in pixels (overrides --size)', integer(16, 4096))
  .option('--height <px>', 'image height in pixels (overrides --size)', integer(16, 4096))
  .option('-b, --blender <name>', `blender that makes source/ from lighting + segmentation: ${blenderNames.join(', ')}, or one a --recipe registers ` +
    '(default: the recipe\'s selected ConditionBlender, else mask-composite)')
  .option('--blend-option <key=value>', 'an option for the blender, repeatable; values are JSON (e.g. weight=0.3)', keyValue, {})
  .option('-e, --extractor <name>', 'make source/ from the target render with a condition extractor instead (canny, soft-edges, or one a --recipe registers)')
  .option('--extract-option <key=value>', 'an option for the extractor, repeatable; values are JSON (e.g. low=40)', keyValue, {})
  .addOption(recipeOption())
  .option('-w, --workers <n>', 'worker threads rendering in parallel (1: on the main thread)', integer(1, 64), Math.min(2, availableParallelism()))
  .option('--overwrite', 'replace the dataset this generator wrote earlier in --out (swapped whole once the new one is complete: old and new never mix)', false)
  .option('--no-progress', 'do not show the progress bar')
  .action(async (flags: {
    out: string; count: number; seed: number; size: number; width?: number; height?: number; blender?: string;
    blendOption: Record<string, unknown>; extractor?: string; extractOption: Record<string, unknown>; recipe?: string;
    workers: number; overwrite: boolean; progress: boolean;
  }, command: Command) => {
    const recipe = await loadDentalRecipe(flags.recipe);
    const o = withRecipe(command, flags, recipeSettings(recipe, 'generate', {
      out: 'path', count: 'integer', seed: 'integer', size: 'integer', width: 'integer', height: 'integer',
      blender: 'string', blendOption: 'object', extractor: 'string', extractOption: 'object', workers: 'integer',
    }));
    const width = o.width ?? o.size, height = o.height ?? o.size;
    const bar = o.progress
      ? new cliProgress.SingleBar({
          format: 'generate |{bar}| {percentage}% | {value}/{total} samples | elapsed {duration_formatted} | ETA {eta_formatted}',
          etaBuffer: 50, noTTYOutput: true, notTTYSchedule: 5000, hideCursor: true,
        }, cliProgress.Presets.shades_classic)
      : null;
    // Ctrl-C stops between samples; the samples done stay staged and the same command resumes
    // from them (a second Ctrl-C kills at once: the next run resumes from what was journalled)
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort(new Error('generate: interrupted; nothing was written to ' + o.out)));
    let barStarted = false;
    try {
      const r = await generateDataset({
        outDir: o.out, count: o.count, seed: o.seed, width, height,
        ...(o.blender !== undefined ? { blender: o.blender } : {}), blenderOptions: o.blendOption,
        ...(o.extractor !== undefined ? { extractor: o.extractor } : {}), extractorOptions: o.extractOption,
        ...(recipe.file ? { recipe: recipe.file } : {}),
        workers: o.workers, overwrite: o.overwrite, signal: stop.signal,
        onNotice: (m) => console.error(`generate: ${m}`),
        // started at the first sample, so an early error (a non-empty folder, a bad option) prints no empty bar
        onProgress: (done, total) => {
          if (!barStarted) bar?.start(total, done);
          else bar?.update(done);
          barStarted = true;
        },
      });
      bar?.stop();
      const resumed = r.resumed ? ` (${r.resumed} resumed from a stopped run)` : '';
      console.log(`wrote ${r.records.length} samples${resumed} (${width}x${height}, seed ${o.seed}, ${r.condition}) to ${o.out} in ${r.seconds.toFixed(1)} s`);
    } catch (e) {
      bar?.stop();
      throw e;
    }
  });

program
  .command('blend-preview')
  .description('Write a PNG grid, one sample a row: lighting | segmentation | each blender\'s condition image.')
  .option('-o, --out <file>', 'output PNG', 'runs/blend-preview.png')
  .option('--from <dir>', 'read lighting/ and segmentation/ from this dataset folder instead of rendering samples')
  .option('-s, --seed <n>', 'seed of the rendered samples (ignored with --from)', integer(0), 0)
  .option('--samples <n>', 'number of rows', integer(1, 100), 4)
  .option('--first <n>', 'index of the first sample', integer(0), 0)
  .option('--size <px>', 'tile width and height in pixels', integer(16, 1024), 128)
  .option('--blenders <list>', `comma-separated blenders to show (default all: ${blenderNames.join(', ')})`)
  .action(async (o: { out: string; from?: string; seed: number; samples: number; first: number; size: number; blenders?: string }) => {
    const chosen = pickBlenders(o.blenders);
    const indices = Array.from({ length: o.samples }, (_, i) => o.first + i);
    await writePngFile(o.out, await blendPreviewPng({ seed: o.seed, indices, width: o.size, height: o.size, ...(o.from ? { from: o.from } : {}) }, chosen));
    console.log(`wrote ${o.out}: ${indices.length} rows of lighting | segmentation | ${chosen.map((b) => b.name).join(' | ')}`);
  });

program
  .command('preview')
  .description('Write a PNG grid of generated samples, one a row: target | lighting | segmentation | depth | normal | edges | blends.')
  .option('-o, --out <file>', 'output PNG', 'runs/dental-preview.png')
  .option('-s, --seed <n>', 'random seed', integer(0), 0)
  .option('--indices <list>', 'comma-separated sample indices (jaw/view cycle every 10)', indexList, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  .option('--size <px>', 'tile width and height in pixels', integer(16, 1024), 128)
  .option('--blenders <list>', 'comma-separated blenders to add as columns', 'alpha,multiply,mask-composite')
  .action(async (o: { out: string; seed: number; indices: number[]; size: number; blenders: string }) => {
    await writePngFile(o.out, await sampleGridPng(o.seed, o.indices, o.size, o.size, pickBlenders(o.blenders)));
    console.log(`wrote ${o.out}: ${o.indices.length} samples`);
  });

program
  .command('check')
  .description('Open a dataset folder with the loader (CtrLoRA prompt.json, target/lighting/segmentation folders, or generator output), decode every image once, and report. Reads only.')
  .argument('<dir>', 'dataset folder')
  .option('--skip-invalid', 'report bad samples as warnings and count them instead of stopping at the first', false)
  .addOption(new Option('-b, --blender <name>', 'make the condition with this blender (needed for the folders layout; on generated data it replaces source/)').choices(blenderNames))
  .action(async (dir: string, o: { skipInvalid: boolean; blender?: string }) => {
    const ds = await DentalDataset.open(dir, { skipInvalid: o.skipInvalid, verify: 'decode', ...(o.blender ? { blender: blenderByName(blenders, o.blender) } : {}) });
    const first = await ds.get(0);
    console.log(`${ds.root}: layout ${ds.layout}, ${ds.length} usable samples, ${ds.skipped.length} skipped`);
    console.log(`first: ${first.name}: "${first.prompt}"`);
  });

addRecipeCommands(program);

program
  .command('main', { isDefault: true })
  .description('The main job, what `npm run dental` runs: the dataset (generated if missing), the shipped base, the blended adapter (5,000 steps), samples on validation images; prints where the outputs are.')
  .action(async () => {
    await mainJob(async () => {
      const r = await generateDataset({ outDir: 'runs/dental-data', count: 2000, seed: 0, width: 128, height: 128, blender: 'mask-composite', blenderOptions: {}, workers: Math.min(2, availableParallelism()) });
      console.log(`wrote ${r.records.length} samples to runs/dental-data in ${r.seconds.toFixed(1)} s`);
    });
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`dental: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
