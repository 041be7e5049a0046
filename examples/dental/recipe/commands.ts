/**
 * The recipe's commands on the dental CLI: `pretrain` (stage 1, the base), `train` (stage 2, the
 * adapter), `sample`, and `main` (what `npm run dental` with no command runs: data if missing,
 * the shipped base, the blended adapter, samples).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { addBackendOptions } from '../../../core/backends/cli-options.ts';
import { blenderByName, blenderContainer, registeredBlenders } from '../../../plugins/blenders/index.ts';
import { EXTRACTORS } from '../../../plugins/conditions/index.ts';
import { type DentalRecipe, conditionFrom, loadDentalRecipe, recipeOption, recipeSettings, withRecipe } from '../recipe-file.ts';
import { schedulerPlugins } from '../../../plugins/schedulers/index.ts';
import { trainAdapter } from './adapter.ts';
import { registerAblateCommand } from './ablate-command.ts';
import { CONDITION_NAMES } from './data.ts';
import { type ParsedTrainingFlags, type TrainingDefaults, addTrainingOptions, integer, real, trainingOptions, useBackend } from './cli-options.ts';
import { STAGES, STAGE_DEFAULTS, type Stage, pretrain } from './pretrain.ts';
import { type AdapterRef, parseAdapterRef, sampleCommand } from './sampling.ts';
import { SIZE_PRESETS, sizesByName } from './sizes.ts';

/** Where `npm run dental` finds the shipped base. */
export const SHIPPED_BASE = 'examples/dental/base';

export const ADAPTER_DEFAULTS: TrainingDefaults = { steps: 5000, batchSize: 1, lr: 1e-4, checkpointEvery: 1000, validateEvery: 1000, promptDropout: 0.3 };
const PRETRAIN_COMMON: TrainingDefaults = { steps: 0, batchSize: 0, lr: 0, checkpointEvery: 500, validateEvery: 1000, promptDropout: 0.1, lrScheduler: 'cosine', lrWarmupSteps: 100 };

const blenders = blenderContainer();
const blenderNames = registeredBlenders(blenders).map((b) => b.name);
const schedulerNames = schedulerPlugins.map((s) => s.name);

function keyValue(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}"`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.slice(eq + 1));
  } catch {
    parsed = value.slice(eq + 1);
  }
  return { ...previous, [value.slice(0, eq)]: parsed };
}

const collectAdapters = (value: string, previous: AdapterRef[] = []) => [...previous, parseAdapterRef(value)];
const collect = (value: string, previous: string[] = []) => [...previous, value];

function printResult(lines: Array<[string, string]>): void {
  const w = Math.max(...lines.map(([k]) => k.length));
  for (const [k, v] of lines) console.log(`  ${k.padEnd(w)}  ${v}`);
}

interface AdapterFlags extends ParsedTrainingFlags {
  data: string; out: string; base: string; condition: string; scheduler: string;
  blender?: string; blendOption: Record<string, unknown>; extractor?: string; extractOption: Record<string, unknown>; recipe?: string;
  toothLossWeight?: number;
}

/** What a `train` section of a --recipe may set (flags on the command line win). */
const TRAIN_RECIPE_SETTINGS = {
  data: 'path', out: 'path', base: 'path', condition: 'string', blender: 'string', blendOption: 'object', extractor: 'string', extractOption: 'object',
  steps: 'integer', batchSize: 'integer', seed: 'integer', lr: 'number', checkpointEvery: 'integer', validateEvery: 'integer', toothLossWeight: 'number',
} as const;

/**
 * Trains an adapter. The condition source comes from `--blender` / `--extractor`, looked up in the
 * recipe's plugins (the bundled ones and a --recipe's own), else the recipe's `select`, else
 * mask-composite; an extractor makes the `source` condition from the target render.
 */
async function runTrain(o: AdapterFlags, recipe: DentalRecipe, conditionGiven = true) {
  const backend = await useBackend(o.backend, o.threads);
  const training = trainingOptions(o, ADAPTER_DEFAULTS);
  const source = conditionFrom(recipe, { blender: o.blender, blenderOptions: o.blendOption, extractor: o.extractor, extractorOptions: o.extractOption }, 'mask-composite');
  if (source.extractor && !conditionGiven) o = { ...o, condition: 'source' };
  if (source.extractor && o.condition !== 'source') {
    throw new InvalidArgumentError(`--extractor ${source.extractor.name} makes the "source" condition from the target render; drop --condition ${o.condition} or set it to source`);
  }
  return trainAdapter({
    data: o.data, out: o.out, base: o.base, backend, condition: o.condition,
    blender: source.blender, blenderName: source.blender?.name, blenderOptions: source.blenderOptions ?? {},
    extractor: source.extractor, extractorOptions: source.extractorOptions ?? {},
    training, promptDropout: o.promptDropout ?? ADAPTER_DEFAULTS.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset,
    validationCount: o.validationCount, validationSteps: o.validationSteps, guidanceScale: o.guidanceScale, scheduler: o.scheduler,
    toothLossWeight: o.toothLossWeight,
  });
}

function addAdapterOptions(cmd: Command): Command {
  return addTrainingOptions(cmd
    .option('--data <dir>', 'dataset folder (generator output: target/, lighting/, segmentation/, ...)', 'runs/dental-data')
    .option('--out <dir>', 'output folder: adapter.safetensors, adapter.json, events.jsonl, loss.png, checkpoints/, samples/', 'runs/dental-adapter')
    .option('--base <dir>', 'the base (pretrain\'s <out>/base, or the shipped one)', SHIPPED_BASE)
    .addOption(new Option('--condition <name>', 'the new condition the adapter learns ("source" with --extractor: the extracted map)').choices([...CONDITION_NAMES]).default('blend'))
    .option('-b, --blender <name>', `how lighting and segmentation are blended (condition "blend"): ${blenderNames.join(', ')}, or one a --recipe registers ` +
      '(default: the recipe\'s selected ConditionBlender, else mask-composite)')
    .option('--blend-option <key=value>', 'an option of the blender, repeatable; values are JSON', keyValue, {})
    .option('-e, --extractor <name>', `learn a condition extracted from the target render instead (${EXTRACTORS.map((make) => make().name).join(', ')}, or one a --recipe registers); implies --condition source`)
    .option('--extract-option <key=value>', 'an option of the extractor, repeatable; values are JSON', keyValue, {})
    .option('--tooth-loss-weight <x>', 'weight the diffusion loss toward the teeth: a latent pixel counts 1 + x * its tooth fraction (from the segmentation map; 0: the plain loss; the ablation\'s improved arm uses 3)', real(0), 0)
    .addOption(recipeOption())
    .addOption(new Option('--scheduler <name>', 'sampler of the validation grids').choices(schedulerNames).default('ddim')), ADAPTER_DEFAULTS);
}

export function addRecipeCommands(program: Command): void {
  const pre = program
    .command('pretrain')
    .description(
      'Stage 1: train the base the adapters build on, in three resumable stages: vae (images and condition maps), t2i (text encoder + UNet on ' +
      'the targets), controlnet (the ctrLoRA base ControlNet on depth, normal, edges and segmentation, one LoRA set each, the shared part fully ' +
      'trained). Writes <out>/<stage>/ (events.jsonl, loss.png, checkpoints/, samples/) and <out>/base/ (f16 weights, model.json, manifest.json).',
    )
    .option('--data <dir>', 'dataset folder (generator output with depth/, normal/, edges/)', 'runs/dental-data')
    .option('--out <dir>', 'output folder', 'runs/dental-pretrain')
    .addOption(new Option('--stage <name>', 'run one stage, or all in order').choices(['all', ...STAGES]).default('all'))
    .addOption(new Option('--sizes <preset>', 'model sizes (dental: 64 px, 16x16 latents; smoke: 16 px, for tests)').choices(Object.keys(SIZE_PRESETS)).default('dental'));
  for (const s of STAGES) {
    pre.option(`--${s}-steps <n>`, `steps of stage ${s} (default ${STAGE_DEFAULTS[s].steps}, batch ${STAGE_DEFAULTS[s].batchSize}; --steps sets every stage)`, integer(1));
    pre.option(`--${s}-lr <x>`, `learning rate of stage ${s} (default ${STAGE_DEFAULTS[s].lr}; --lr sets every stage)`, real(0));
  }
  addTrainingOptions(pre, PRETRAIN_COMMON, 'steps of every stage');
  pre.action(async (o: ParsedTrainingFlags & { data: string; out: string; stage: Stage | 'all'; sizes: string } & Record<string, unknown>) => {
    const backend = await useBackend(o.backend, o.threads);
    const training = Object.fromEntries(STAGES.map((s) => {
      const d = STAGE_DEFAULTS[s];
      const stageSteps = o[`${s}Steps`] as number | undefined, stageLr = o[`${s}Lr`] as number | undefined;
      return [s, trainingOptions({ ...o, steps: stageSteps ?? o.steps, lr: stageLr ?? o.lr }, { ...PRETRAIN_COMMON, ...d })];
    })) as Record<Stage, ReturnType<typeof trainingOptions>>;
    const r = await pretrain({
      data: o.data, out: o.out, sizes: sizesByName(o.sizes), backend, stage: o.stage, training,
      promptDropout: o.promptDropout ?? PRETRAIN_COMMON.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset,
      validationCount: o.validationCount, validationSteps: o.validationSteps, guidanceScale: o.guidanceScale,
      command: `npm run dental -- ${process.argv.slice(2).join(' ')}`.trim(),
    });
    console.log('pretrain: outputs');
    printResult([['base', r.baseDir], ...STAGES.filter((s) => r.stages[s]).map((s) => [`${s} loss curve`, join(o.out, s, 'loss.png')] as [string, string])]);
  });

  addAdapterOptions(program
    .command('train')
    .description(
      'Stage 2: train a ctrLoRA adapter for a new condition (default: lighting blended with segmentation) on the frozen base: LoRA on every Linear ' +
      'of the base ControlNet + its zero convs + transformer norms, batch 1, 5,000 steps. Writes <out>/adapter.safetensors (+ adapter.json), ' +
      'events.jsonl, loss.png, checkpoints/ and samples/ (validation grids input | output | target).',
    ))
    .action(async (flags: AdapterFlags, command: Command) => {
      const recipe = await loadDentalRecipe(flags.recipe);
      const settings = recipeSettings(recipe, 'train', TRAIN_RECIPE_SETTINGS);
      const o = withRecipe(command, flags, settings);
      const r = await runTrain(o, recipe, command.getOptionValueSource('condition') === 'cli' || settings.condition !== undefined);
      console.log(`train: ${r.step} steps; validation PSNR ${r.metrics.psnr!.toFixed(2)} dB, SSIM ${r.metrics.ssim!.toFixed(3)}`);
      printResult([['adapter', r.adapterPath], ['loss curve', join(o.out, 'loss.png')], ['validation grids', join(o.out, 'samples')]]);
    });

  const sample = program
    .command('sample')
    .description(
      'Sample the base with one or several adapters (their residuals summed with weights, as CtrLoRA\'s multi-condition inference) on validation ' +
      'samples or given condition images. Writes <out>/grid.png (inputs | output | [no control] | target), <out>/images/ and <out>/metrics.json.',
    )
    .option('--adapter <file[:weight]>', 'an adapter from `train`, or base:<condition> for a base set (depth, normal, edges, segmentation); repeatable (default: runs/dental-adapter/adapter.safetensors)', collectAdapters)
    .option('--base <dir>', 'the base', SHIPPED_BASE)
    .option('--data <dir>', 'dataset folder to take conditions and targets from', 'runs/dental-data')
    .addOption(new Option('--split <name>', 'which part of the dataset').choices(['val', 'train', 'all']).default('val'))
    .option('--count <n>', 'how many samples', integer(1, 256), 8)
    .option('--image <file>', 'a condition image instead of the dataset (one adapter); repeatable; the prompt comes from its name or --prompt', collect)
    .option('--prompt <text>', 'prompt for every --image')
    .option('--out <dir>', 'output folder', 'runs/dental-samples')
    .addOption(new Option('--scheduler <name>', 'sampler').choices(schedulerNames).default('ddim'))
    .option('--steps <n>', 'sampling steps', integer(1, 1000), 30)
    .option('--guidance-scale <x>', 'classifier-free guidance', real(0), 3)
    .option('--control-strength <x>', 'scale of the ControlNet residuals', real(0), 1)
    .option('--seed <n>', 'seed of the initial noise', integer(0), 0)
    .option('--baseline', 'also sample without control (the base alone, same seed) and report both', false)
    .option('-b, --blender <name>', 'override the blender a blend adapter was trained with')
    .addOption(new Option('--recipe <file>', 'JSON recipe whose plugins (your blenders, extractors) the adapters were trained with: their names resolve there'));
  addBackendOptions(sample, 'auto');
  sample.action(async (o: {
      adapter?: AdapterRef[]; base: string; data: string; split: 'val' | 'train' | 'all'; count: number; image?: string[]; prompt?: string; out: string;
      scheduler: string; steps: number; guidanceScale: number; controlStrength: number; seed: number; baseline: boolean; blender?: string; recipe?: string;
      backend: string; threads?: number;
    }) => {
      const backend = await useBackend(o.backend, o.threads);
      const plugins = (await loadDentalRecipe(o.recipe)).container;
      const r = await sampleCommand({
        base: o.base, adapters: o.adapter ?? [{ path: join('runs/dental-adapter', 'adapter.safetensors'), weight: 1 }], out: o.out, backend,
        data: o.data, split: o.split, count: o.count, images: o.image, prompt: o.prompt, scheduler: o.scheduler, steps: o.steps,
        guidanceScale: o.guidanceScale, controlStrength: o.controlStrength, seed: o.seed, baseline: o.baseline,
        blender: o.blender ? blenderByName(plugins, o.blender) : undefined, plugins,
      });
      if (r.metrics) console.log(`sample: PSNR ${r.metrics.psnr!.toFixed(2)} dB, SSIM ${r.metrics.ssim!.toFixed(3)}${r.metrics.psnr_no_control !== undefined ? ` (no control: ${r.metrics.psnr_no_control.toFixed(2)} dB, ${r.metrics.ssim_no_control!.toFixed(3)})` : ''}`);
      printResult([['grid', r.grid], ['images', join(o.out, 'images')]]);
    });

  registerAblateCommand(program, ADAPTER_DEFAULTS);
}

/** `npm run dental`: the main job on its defaults. */
export async function mainJob(generate: () => Promise<void>): Promise<void> {
  const data = 'runs/dental-data';
  if (!existsSync(join(SHIPPED_BASE, 'model.json'))) {
    console.error(
      `dental: no base in ${SHIPPED_BASE} (the repository ships one; make your own with \`npm run dental -- pretrain\`, about 95 minutes on 2 cores, ` +
      `then \`npm run dental -- train --base runs/dental-pretrain/base\` and \`npm run dental -- sample --base runs/dental-pretrain/base\`).`,
    );
    process.exitCode = 2;
    return;
  }
  if (!existsSync(join(data, 'prompt.json'))) {
    console.log(`dental: no dataset in ${data}: generating it first`);
    await generate();
  }
  const flags = { data, out: 'runs/dental-adapter', base: SHIPPED_BASE, condition: 'blend', blender: 'mask-composite', blendOption: {}, scheduler: 'ddim' };
  const common: ParsedTrainingFlags = {
    lrScheduler: 'constant', lrWarmupSteps: 0, adamBeta1: 0.9, adamBeta2: 0.999, adamWeightDecay: 1e-2, adamEpsilon: 1e-8, maxGradNorm: 1,
    gradientAccumulationSteps: 1, seed: 0, resume: 'latest', validationCount: 4, validationSteps: 20, guidanceScale: 3, minSnrGamma: null, noiseOffset: 0,
    backend: 'auto', progress: true,
  };
  const t = await runTrain({ ...common, ...flags, extractOption: {} }, await loadDentalRecipe());
  const s = await sampleCommand({
    base: SHIPPED_BASE, adapters: [{ path: t.adapterPath, weight: 1 }], out: 'runs/dental-samples', data, split: 'val', count: 8,
    scheduler: 'ddim', steps: 30, guidanceScale: 3, controlStrength: 1, seed: 0, baseline: true,
  });
  console.log('dental: done');
  printResult([['grid', s.grid], ['loss curve', join(flags.out, 'loss.png')], ['adapter', t.adapterPath], ['metrics', join('runs/dental-samples', 'metrics.json')]]);
}
