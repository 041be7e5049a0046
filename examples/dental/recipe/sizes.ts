/**
 * The sizes of the dental recipe's models: one JSON-able object saved with the base weights
 * (`model.json`), so a base always loads with the architecture it was trained with. Two presets:
 *  - `dental`: what the shipped base is trained at on a 2-core machine (64 px images, a 4x VAE,
 *    16x16 latents, channels in the tens);
 *  - `smoke`: the smallest sizes that run every code path, for tests (16 px, 8x8 latents).
 */
import { ArgumentError } from '../../../core/errors.ts';
import type { ClipTextConfig } from '../../../plugins/text-encoder/index.ts';
import type { UNetConfig } from '../../../plugins/unet/config.ts';
import type { VaeConfig } from '../../../plugins/vae/config.ts';

export interface DentalSizes {
  /** Side of the training images (the dataset is resized to it). */
  imageSize: number;
  vae: VaeConfig;
  unet: UNetConfig;
  textEncoder: ClipTextConfig;
  /** Tokens per prompt (the template has 23 words and commas). */
  contextLength: number;
  /** Rank of every LoRA of the base conditions and of the adapter. */
  loraRank: number;
}

const SCALED_LINEAR = { betaSchedule: 'scaled_linear', betaStart: 0.00085, betaEnd: 0.012 } as const;
/** SD1.5's training schedule: every scheduler of the recipe is created with it. */
export const SCHEDULE = Object.freeze({ ...SCALED_LINEAR, numTrainTimesteps: 1000, predictionType: 'epsilon' as const });

const DENTAL: DentalSizes = {
  imageSize: 64,
  vae: {
    inChannels: 3, outChannels: 3, latentChannels: 4, blockOutChannels: [32, 64, 64], layersPerBlock: 1,
    normNumGroups: 8, normEps: 1e-6, scalingFactor: 1,
  },
  unet: {
    inChannels: 4, outChannels: 4, blockOutChannels: [48, 96, 96],
    downBlockTypes: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    layersPerBlock: 1, normNumGroups: 8, normEps: 1e-5, crossAttentionDim: 64, attentionHeads: 4,
    transformerLayersPerBlock: 1, flipSinToCos: true, freqShift: 0, sampleSize: 16,
  },
  textEncoder: { vocabSize: 64, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 2, maxPositions: 32, activation: 'quick_gelu', layerNormEps: 1e-5 },
  contextLength: 32,
  loraRank: 16,
};

const SMOKE: DentalSizes = {
  imageSize: 16,
  vae: { ...DENTAL.vae, blockOutChannels: [8, 16], normNumGroups: 4 },
  unet: {
    ...DENTAL.unet, blockOutChannels: [16, 32], downBlockTypes: ['CrossAttnDownBlock2D', 'DownBlock2D'], upBlockTypes: ['UpBlock2D', 'CrossAttnUpBlock2D'],
    normNumGroups: 4, crossAttentionDim: 16, attentionHeads: 2, sampleSize: 8,
  },
  textEncoder: { ...DENTAL.textEncoder, hiddenSize: 16, intermediateSize: 32 },
  contextLength: 32,
  loraRank: 4,
};

export const SIZE_PRESETS = { dental: DENTAL, smoke: SMOKE } as const;
export type SizePreset = keyof typeof SIZE_PRESETS;

export function sizesByName(name: string): DentalSizes {
  if (!Object.hasOwn(SIZE_PRESETS, name)) throw new ArgumentError(`--sizes: unknown preset "${name}" (known: ${Object.keys(SIZE_PRESETS).join(', ')})`);
  return SIZE_PRESETS[name as SizePreset];
}

/** The VAE's downsampling factor: 2 per level after the first. */
export function latentSide(s: DentalSizes): number {
  return s.imageSize / 2 ** (s.vae.blockOutChannels.length - 1);
}

/** Checks that the pieces fit together (image side, latent side, widths), naming what does not. */
export function checkSizes(s: DentalSizes, where = 'model sizes'): DentalSizes {
  const f = 2 ** (s.vae.blockOutChannels.length - 1);
  if (!Number.isInteger(s.imageSize) || s.imageSize < 8 || s.imageSize % f) throw new ArgumentError(`${where}: imageSize ${s.imageSize} must be an integer >= 8 and a multiple of the VAE's factor ${f}`);
  const down = 2 ** (s.unet.blockOutChannels.length - 1);
  if ((s.imageSize / f) % down) throw new ArgumentError(`${where}: the latent side ${s.imageSize / f} must be a multiple of the UNet's factor ${down}`);
  if (s.unet.crossAttentionDim !== s.textEncoder.hiddenSize) throw new ArgumentError(`${where}: unet.crossAttentionDim ${s.unet.crossAttentionDim} must equal textEncoder.hiddenSize ${s.textEncoder.hiddenSize}`);
  if (s.contextLength > s.textEncoder.maxPositions) throw new ArgumentError(`${where}: contextLength ${s.contextLength} exceeds textEncoder.maxPositions ${s.textEncoder.maxPositions}`);
  if (!Number.isInteger(s.loraRank) || s.loraRank < 1) throw new ArgumentError(`${where}: loraRank must be an integer >= 1, got ${s.loraRank}`);
  return s;
}
