/**
 * The tiny ControlNet + LoRA training step of ../shared/bench/README.md built with our own
 * plugins, so it can be timed beside PyTorch's torch_ref_step.py:
 *
 * - UNet2DConditionModel: latent 4x16x16, channels 32/64/128, 1 ResNet per level,
 *   DownBlock2D/UpBlock2D (no attention outside the mid block), GroupNorm(8), SiLU, a mid
 *   block with one transformer (self-attention, cross-attention over a 77x128 context, 4 heads),
 *   sinusoidal(32) time embedding -> 128 -> 128. Frozen.
 * - ControlNetModel.fromUnet: a frozen copy of conv_in, the time embedding, the down blocks
 *   and the mid block; a trainable condition embedding 3x128x128 -> 8/16/32/64 -> 32 (8x
 *   down); trainable zero 1x1 convs on the skips and the mid output.
 * - LoRA rank 8, alpha 8 (kaiming-uniform down, zero up) on every Linear and Conv2d of the copy.
 * - AdamW lr 1e-4, weight decay 1e-2; MSE on epsilon; DDPM linear betas 1e-4..2e-2, T = 1000.
 *
 * Where it differs from the script (our UNet follows diffusers' layout): the up path has 2
 * ResNets per level (diffusers' layers_per_block + 1) and skips from every ResNet and
 * downsampler, the feed-forward is GEGLU, and the ControlNet gets a zero conv per skip (6 + mid
 * against the script's 3 + mid). tinyStepCounts() gives the parameter counts for the report.
 */
import {
  AdamW, type Backend, Generator, type Tensor, rand, randn, tidy,
} from '../../core/index.ts';
import { ControlNetModel } from '../../plugins/controlnet/index.ts';
import { diffusionTrainingStep } from '../../plugins/diffusion/index.ts';
import { LoraModel } from '../../plugins/lora/index.ts';
import { DDPMScheduler } from '../../plugins/schedulers/index.ts';
import { UNet2DConditionModel } from '../../plugins/unet/index.ts';
import { AutoencoderKL } from '../../plugins/vae/index.ts';

export interface TinyStep {
  /** One training step (forward, backward, AdamW), its intermediates released; returns the loss. */
  step(): number;
  counts: { unetFrozen: number; controlnetFrozen: number; trainable: number; loraLayers: number; total: number };
}

const count = (ps: readonly Tensor[]) => ps.reduce((n, p) => n + p.size, 0);

export function buildTinyStep(backend: Backend, batch: number, seed = 0): TinyStep {
  const unet = new UNet2DConditionModel({
    preset: 'tiny',
    blockOutChannels: [32, 64, 128],
    downBlockTypes: ['DownBlock2D', 'DownBlock2D', 'DownBlock2D'],
    upBlockTypes: ['UpBlock2D', 'UpBlock2D', 'UpBlock2D'],
    layersPerBlock: 1,
    normNumGroups: 8,
    crossAttentionDim: 128,
    attentionHeads: 4,
    sampleSize: 16,
  }, { backend, seed });
  unet.freeze();
  const controlnet = ControlNetModel.fromUnet(unet, { backend, seed: seed + 1, conditioningEmbeddingChannels: [8, 16, 32, 64] });
  controlnet.freeze();
  const copy = (path: string) => !/^controlnet_(cond_embedding|down_blocks|mid_block)\b/.test(path);
  const loraLayers = new LoraModel(controlnet).addAdapter('bench', {
    rank: 8, alpha: 8, targetModules: [copy], layerTypes: ['linear', 'conv2d'], init: 'kaiming_uniform', seed,
  });
  controlnet.unfreeze('controlnet_cond_embedding.*');
  controlnet.unfreeze('controlnet_down_blocks.*');
  controlnet.unfreeze('controlnet_mid_block.*');
  const trainable = controlnet.trainableParameters();
  const optimizer = new AdamW(trainable, { lr: 1e-4, weightDecay: 1e-2 });

  const g = new Generator(seed + 2);
  const models = {
    unet,
    controlnet,
    // Never run: the batch brings its latents (the script's x0), as a cached-latent run does.
    vae: new AutoencoderKL('tiny', { backend, seed }),
    scheduler: new DDPMScheduler({ betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 2e-2, numTrainTimesteps: 1000 }),
  };
  const data = {
    latents: randn([batch, 4, 16, 16], { generator: g, backend }),
    context: randn([batch, 77, 128], { generator: g, backend }),
    conditions: rand([batch, 3, 128, 128], { generator: g, backend }),
  };
  for (const t of Object.values(data)) backend.keep?.(t.storage);

  const frozenCopy = controlnet.parameters().filter((p) => !p.requiresGrad);
  return {
    step: () => tidy(() => {
      const { loss } = diffusionTrainingStep(models, data, { generator: g });
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
      return loss.item();
    }, backend),
    counts: {
      unetFrozen: count(unet.parameters()),
      controlnetFrozen: count(frozenCopy),
      trainable: count(trainable),
      loraLayers: loraLayers.length,
      total: count(unet.parameters()) + count(controlnet.parameters()),
    },
  };
}
