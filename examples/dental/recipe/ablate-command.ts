/**
 * `npm run dental -- ablate`: the command line of the ablation (ablate.ts), and `--table` to
 * print a finished run's table as Markdown (what docs/dental.md carries).
 */
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { blenderContainer, registeredBlenders } from '../../../plugins/blenders/index.ts';
import { schedulerPlugins } from '../../../plugins/schedulers/index.ts';
import { ARM_NAMES, DEFAULT_ARMS, DEFAULT_DUAL_WEIGHTS, IMPROVED_DEFAULTS, ablate, parseArms, parseDualWeights, readAblationResults } from './ablate.ts';
import { ablationTable } from './ablation-report.ts';
import { type ParsedTrainingFlags, type TrainingDefaults, addTrainingOptions, integer, real, trainingOptions, useBackend } from './cli-options.ts';

/** A CLI wrapper that turns an ArgumentError of a parser into commander's usage error. */
const cli = <T>(parse: (v: string) => T) => (value: string): T => {
  try {
    return parse(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
};

function seedList(value: string): number[] {
  const seeds = value.split(',').map((v) => integer(0)(v.trim()));
  if (new Set(seeds).size !== seeds.length) throw new InvalidArgumentError(`a seed is repeated in "${value}"`);
  return seeds;
}

interface AblateFlags extends ParsedTrainingFlags {
  data: string; out: string; base: string; seeds: number[]; allSeeds: boolean; arms: string[]; count: number; scheduler: string;
  samplingSteps: number; samplingSeed: number; dualWeights: Array<[number, number]>; toothLossWeight: number; improvedBlender: string; table?: string;
}

export function registerAblateCommand(program: Command, adapterDefaults: TrainingDefaults): void {
  // The trainings validate once, at their end (the study's own evaluation is what counts).
  const defaults: TrainingDefaults = { ...adapterDefaults, validateEvery: 0 };
  const cmd = program
    .command('ablate')
    .description(
      'The seed\'s ablation, measured: from one base, step budget and seeds, train one adapter per arm (lighting only, segmentation only, ' +
      'each blend, the improved variant), add the two-adapter arm (lighting and segmentation residuals summed, weights swept), and measure ' +
      'every arm on the same validation samples with the same sampling seed: PSNR and SSIM on the whole image and on the teeth, and tooth ' +
      'detail. Writes <out>/report.html (self-contained: table, grids, loss curves, settings) and <out>/results.json. Resumable: finished ' +
      'trainings and evaluations are reused, an unfinished training resumes from its latest checkpoint.',
    )
    .option('--data <dir>', 'dataset folder (generator output with lighting/ and segmentation/)', 'runs/dental-data')
    .option('--out <dir>', 'output folder: arms/<arm>/seed-<s>/ (each training), eval/, results.json, report.html', 'runs/dental-ablation')
    .option('--base <dir>', 'the base every arm starts from', 'examples/dental/base')
    .addOption(new Option('--seeds <list>', 'training seeds, comma-separated: the headline arms (lighting, segmentation, dual, blend-mask-composite, improved) train on each, the others on the first (--seed is not used)').argParser(seedList).default([0, 1], '0,1'))
    .option('--all-seeds', 'train every arm on every seed', false)
    .addOption(new Option('--arms <list>', `arms to run, comma-separated, or "all" (known: ${ARM_NAMES.join(', ')})`).argParser(cli(parseArms)).default(DEFAULT_ARMS, DEFAULT_ARMS.join(',')))
    .option('--count <n>', 'validation samples every arm is measured on (the first N of the split)', integer(2, 256), 16)
    .addOption(new Option('--scheduler <name>', 'sampler of the evaluation (and of the trainings\' validation grids)').choices(schedulerPlugins.map((s) => s.name)).default('ddim'))
    .option('--sampling-steps <n>', 'sampling steps of the evaluation (its guidance: --guidance-scale)', integer(1, 1000), 30)
    .option('--sampling-seed <n>', 'seed of the evaluation\'s initial noise (the same for every arm)', integer(0), 0)
    .addOption(new Option('--dual-weights <pairs>', 'lighting:segmentation residual weights of the two-adapter arm, comma-separated').argParser(cli(parseDualWeights))
      .default(DEFAULT_DUAL_WEIGHTS.map(([a, b]) => [a, b]), DEFAULT_DUAL_WEIGHTS.map(([a, b]) => `${a}:${b}`).join(',')))
    .option('--tooth-loss-weight <x>', 'the improved arm\'s tooth-loss weight (train --tooth-loss-weight)', real(0), IMPROVED_DEFAULTS.toothLossWeight)
    .addOption(new Option('--improved-blender <name>', 'the improved arm\'s blender').choices(registeredBlenders(blenderContainer()).map((b) => b.name)).default(IMPROVED_DEFAULTS.blender))
    .option('--table <results.json>', 'only print the table of a finished run (Markdown, as docs/dental.md carries it) and exit');
  addTrainingOptions(cmd, defaults, 'optimiser steps of every training (the seed\'s 5,000 by default)');
  cmd.action(async (o: AblateFlags) => {
    if (o.table) {
      console.log(ablationTable(readAblationResults(o.table)));
      return;
    }
    if (cmd.getOptionValueSource('seed') === 'cli') cmd.error('ablate: give the training seeds with --seeds (a list); --seed is not used here');
    const backend = await useBackend(o.backend, o.threads);
    const { results, report, resultsPath } = await ablate({
      data: o.data, out: o.out, base: o.base, backend, seeds: o.seeds, allSeeds: o.allSeeds, arms: o.arms, count: o.count,
      training: trainingOptions(o, defaults), promptDropout: o.promptDropout ?? defaults.promptDropout, minSnrGamma: o.minSnrGamma, noiseOffset: o.noiseOffset,
      validationCount: o.validationCount, validationSteps: o.validationSteps, guidanceScale: o.guidanceScale,
      sampler: { scheduler: o.scheduler, steps: o.samplingSteps, guidanceScale: o.guidanceScale, seed: o.samplingSeed },
      dualWeights: o.dualWeights, toothLossWeight: o.toothLossWeight, improvedBlender: o.improvedBlender,
      command: `npm run dental -- ${process.argv.slice(2).join(' ')}`.trim(),
    });
    console.log(ablationTable(results));
    console.log(`\nablate: report ${report}\n        results ${resultsPath}\n        trainings ${join(o.out, 'arms')}`);
  });
}
