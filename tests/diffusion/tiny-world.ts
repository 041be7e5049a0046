/**
 * The tiny diffusion world the tests share: tiny VAE (8x8 images -> 4x4 latents), tiny UNet,
 * a ctrLoRA base ControlNet initialised from it, a tiny CLIP text encoder over a word-level
 * tokenizer with an 8-token context, and a DDPM training scheduler.
 */
import { Generator, rand, type Tensor } from '../../core/index.ts';
import { CtrLoraBaseControlNet } from '../../plugins/controlnet/index.ts';
import { DDPMScheduler } from '../../plugins/schedulers/index.ts';
import { ClipTextModel, WordTokenizer } from '../../plugins/text-encoder/index.ts';
import { UNet2DConditionModel } from '../../plugins/unet/index.ts';
import { AutoencoderKL } from '../../plugins/vae/index.ts';

export const PROMPTS = ['a lit molar', 'a shaded incisor', 'a lit incisor', 'a shaded molar'];

export function tinyWorld(options: { predictionType?: 'epsilon' | 'v_prediction' } = {}) {
  const tokenizer = new WordTokenizer(WordTokenizer.fromCorpus(PROMPTS).vocab, 8);
  const textEncoder = new ClipTextModel('tiny', { vocabSize: tokenizer.vocabSize }, { seed: 3 });
  const vae = new AutoencoderKL('tiny', { seed: 1 });
  const unet = new UNet2DConditionModel('tiny', { seed: 2 });
  const controlnet = CtrLoraBaseControlNet.fromUnet(unet, { seed: 4 });
  const scheduler = new DDPMScheduler({ betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012, predictionType: options.predictionType ?? 'epsilon' });
  for (const m of [textEncoder, vae, unet]) m.freeze();
  return { tokenizer, textEncoder, vae, unet, controlnet, scheduler };
}

/**
 * Synthetic samples: blocky targets in [0, 1] (side x side, a 4x4 grid of flat blocks) and
 * conditions derived from them (their brightness map, grey). side 8 gives 4x4 latents.
 */
export function syntheticBatch(n: number, seed = 7, side = 8): { images: Tensor; conditions: Tensor; prompts: string[] } {
  const g = new Generator(seed);
  const k = side / 4;
  const base = rand([n, 3, 4, 4], { generator: g });
  const images = base.reshape([n, 3, 4, 1, 4, 1]).expand([n, 3, 4, k, 4, k]).reshape([n, 3, side, side]).contiguous();
  const conditions = images.mean([1], true).expand([n, 3, side, side]).contiguous();
  return { images, conditions, prompts: PROMPTS.slice(0, n) };
}
