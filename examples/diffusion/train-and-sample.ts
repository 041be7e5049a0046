/**
 * ctrLoRA at toy size, start to finish: a tiny VAE, UNet and text encoder (frozen, random
 * here: real runs load SD1.5 weights), a base ControlNet initialised from the UNet, one LoRA
 * condition trained with AdamW on synthetic image/condition pairs, then sampled with DDIM and
 * classifier-free guidance into a condition | sample | target grid.
 *
 *   npx tsx examples/diffusion/train-and-sample.ts [steps=20] [outDir=runs/diffusion-example]
 */
import { fileURLToPath } from 'node:url';
import { AdamW, Generator, rand, type Tensor } from '../../core/index.ts';
import { CtrLoraBaseControlNet } from '../../plugins/controlnet/index.ts';
import { DiffusionPipeline, diffusionTrainingStep, writeGrid } from '../../plugins/diffusion/index.ts';
import { LoraModel, selectCtrloraTrainable } from '../../plugins/lora/index.ts';
import { DDPMScheduler, schedulerPlugins } from '../../plugins/schedulers/index.ts';
import { ClipTextModel, WordTokenizer } from '../../plugins/text-encoder/index.ts';
import { UNet2DConditionModel } from '../../plugins/unet/index.ts';
import { AutoencoderKL } from '../../plugins/vae/index.ts';

export interface ExampleOptions {
  steps?: number;
  samplingSteps?: number;
  /** Image side (a multiple of 4; the tiny VAE halves it). */
  side?: number;
  outDir?: string;
}

/** Synthetic pairs: blocky colour images and, as their condition, their brightness (grey). */
function syntheticPairs(n: number, side: number, seed: number): { images: Tensor; conditions: Tensor } {
  const k = side / 4;
  const blocks = rand([n, 3, 4, 4], { generator: new Generator(seed) });
  const images = blocks.reshape([n, 3, 4, 1, 4, 1]).expand([n, 3, 4, k, 4, k]).reshape([n, 3, side, side]).contiguous();
  return { images, conditions: images.mean([1], true).expand([n, 3, side, side]).contiguous() };
}

export async function runExample(options: ExampleOptions = {}): Promise<{ first: number; last: number; grid: string }> {
  const steps = options.steps ?? 20;
  const side = options.side ?? 16;
  const outDir = options.outDir ?? 'runs/diffusion-example';
  const prompts = ['a lit molar', 'a shaded incisor', 'a lit incisor', 'a shaded molar'];
  const schedule = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 } as const;

  // 1. The frozen models and the base ControlNet.
  const tokenizer = new WordTokenizer(WordTokenizer.fromCorpus(prompts).vocab, 8);
  const textEncoder = new ClipTextModel('tiny', { vocabSize: tokenizer.vocabSize }, { seed: 3 });
  const vae = new AutoencoderKL('tiny', { seed: 1 });
  const unet = new UNet2DConditionModel('tiny', { seed: 2 });
  for (const m of [textEncoder, vae, unet]) m.freeze();
  const controlnet = CtrLoraBaseControlNet.fromUnet(unet, { seed: 4 });

  // 2. One condition: a LoRA on every Linear, trained with the zero convs and transformer norms.
  const lora = new LoraModel(controlnet);
  lora.addAdapter('brightness', { rank: 4, targetModules: 'all' });
  const trainable = selectCtrloraTrainable(controlnet, { adapter: 'brightness' });
  console.log(`trainable: ${trainable.summary}`);

  // 3. Training: seeded noise and timesteps, min-SNR weighting, 10% prompt dropout for CFG.
  const scheduler = new DDPMScheduler(schedule);
  const data = syntheticPairs(prompts.length, side, 7);
  const optimizer = new AdamW(trainable.parameters, { lr: 3e-3 });
  const generator = new Generator(0);
  const models = { vae, unet, controlnet, textEncoder, tokenizer, scheduler };
  let first = Number.NaN;
  let last = Number.NaN;
  for (let step = 0; step < steps; step++) {
    optimizer.zeroGrad();
    const { loss, info } = diffusionTrainingStep(models, { ...data, prompts }, { generator, minSnrGamma: 5, promptDropout: 0.1 });
    loss.backward();
    optimizer.step();
    last = loss.item();
    if (step === 0) first = last;
    if (step % 5 === 0 || step === steps - 1) console.log(`step ${step}: loss ${last.toFixed(4)} (unweighted ${info.unweightedLoss.toFixed(4)}, t = ${info.timesteps.join(', ')})`);
  }

  // 4. Sampling: DDIM as SD1.5 / CtrLoRA configure it (no clipping of the predicted latent,
  // alpha-bar_0 after the last step, steps offset 1), guidance 3, the condition kept in the
  // unconditional branch.
  const pipeline = new DiffusionPipeline({ vae, unet, textEncoder, tokenizer, controlnet, schedulers: schedulerPlugins }, {
    schedulerConfig: schedule,
    schedulerOverrides: { ddim: { clipSample: false, setAlphaToOne: false, stepsOffset: 1 } },
  });
  const { images } = pipeline.sample({
    prompt: prompts, conditions: [{ image: data.conditions }], scheduler: 'ddim', steps: options.samplingSteps ?? 10, guidanceScale: 3, seed: 1,
  });
  const grid = await writeGrid(`${outDir}/grid.png`, [data.conditions, images, data.images], { scale: 4 });
  console.log(`wrote ${grid} (condition | sample | target, one row per prompt)`);
  return { first, last, grid };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [steps, outDir] = process.argv.slice(2);
  await runExample({ steps: steps ? Number(steps) : undefined, outDir });
}
