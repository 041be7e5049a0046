import { describe, expect, it } from 'vitest';
import { Generator, type Tensor, init, noGrad, randn, tensor } from '../../core/index.ts';
import { ControlNetModel } from '../../plugins/controlnet/index.ts';
import { diffusionTrainingStep } from '../../plugins/diffusion/index.ts';
import { syntheticBatch, tinyWorld } from './tiny-world.ts';

const N = 2;
const world = tinyWorld();
const { vae, unet, controlnet, textEncoder, tokenizer, scheduler } = world;
// Zero convs start at zero; give them values so the ControlNet takes part in the loss.
noGrad(() => {
  for (const m of [...controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]) init.normal_(m.weight, 0, 0.05, { seed: 11 });
});
const batch = syntheticBatch(N);
const models = { vae, unet, controlnet, textEncoder, tokenizer, scheduler };

/** The step written out by hand, drawing in the documented order. */
function byHand(seed: number, options: { noiseOffset?: number; prompts?: string[]; skipUniforms?: number } = {}) {
  const g = new Generator(seed);
  for (let i = 0; i < (options.skipUniforms ?? 0); i++) g.uniform();
  return noGrad(() => {
    const sf = vae.scalingFactor;
    const z0 = vae.encode(batch.images.mul(2).sub(1)).sample(g).mul(sf);
    const cond = vae.encode(batch.conditions).sample(g).mul(sf);
    let noise = randn(z0.shape, { generator: g });
    if (options.noiseOffset) noise = noise.add(randn([N, 4, 1, 1], { generator: g }).mul(options.noiseOffset));
    const ts = Array.from({ length: N }, () => g.int(0, 1000));
    const abar = ts.map((t) => scheduler.alphasCumprod[t]!);
    const col = (f: (a: number) => number) => tensor(abar.map(f), [N, 1, 1, 1]);
    const xt = z0.mul(col(Math.sqrt)).add(noise.mul(col((a) => Math.sqrt(1 - a))));
    const ctx = textEncoder.forward(tokenizer.toTensor(options.prompts ?? batch.prompts));
    const pred = unet.forward(xt, ts, ctx, controlnet.forward(cond, ts, ctx));
    const v = noise.mul(col(Math.sqrt)).sub(z0.mul(col((a) => Math.sqrt(1 - a))));
    const snr = abar.map((a) => a / (1 - a));
    return { pred, noise, z0, v, ts, snr };
  });
}
const perSample = (a: Tensor, b: Tensor) => Array.from(a.sub(b).square().mean([1, 2, 3]).toArray());
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

describe('diffusionTrainingStep', () => {
  const hand = byHand(42);

  it('equals the hand-assembled loss (VAE encode, noise, t, addNoise, ctrLoRA base residuals, UNet, MSE on eps)', () => {
    const { loss, info } = diffusionTrainingStep(models, batch, { generator: new Generator(42) });
    expect(info.timesteps).toEqual(hand.ts);
    const expected = perSample(hand.pred, hand.noise);
    expect(info.perSampleLoss.map((x, i) => x - expected[i]!).every((d) => Math.abs(d) < 1e-6)).toBe(true);
    expect(loss.item()).toBeCloseTo(mean(expected), 6);
    expect(info.unweightedLoss).toBeCloseTo(mean(expected), 6);
    expect(info.weights).toEqual([1, 1]);
    expect(loss.item()).toBeGreaterThan(0.1);
  });

  it('sends gradients to the ControlNet only (frozen VAE, UNet, text encoder get none)', () => {
    controlnet.zeroGrad();
    diffusionTrainingStep(models, batch, { generator: new Generator(42) }).loss.backward();
    expect(controlnet.controlnet_mid_block.weight.grad!.abs().sum().item()).toBeGreaterThan(0);
    expect(controlnet.conv_in.weight.grad!.abs().sum().item()).toBeGreaterThan(0);
    for (const m of [unet, vae, textEncoder]) expect(m.parameters().every((p) => p.grad === null)).toBe(true);
    controlnet.zeroGrad();
  });

  it('with trainTextEncoder the loss reaches the text encoder too, with the same value', () => {
    textEncoder.unfreeze();
    try {
      const r = diffusionTrainingStep(models, batch, { generator: new Generator(42), trainTextEncoder: true });
      expect(r.loss.item()).toBeCloseTo(diffusionTrainingStep(models, batch, { generator: new Generator(42) }).loss.item(), 6);
      r.loss.backward();
      const grads = textEncoder.parameters().map((p) => p.grad?.abs().sum().item() ?? 0);
      expect(grads.filter((g) => g > 0).length).toBeGreaterThan(grads.length / 2);
      expect(unet.parameters().every((p) => p.grad === null)).toBe(true);
    } finally {
      textEncoder.zeroGrad();
      controlnet.zeroGrad();
      textEncoder.freeze();
    }
  });

  it('v-prediction regresses on v = sqrt(abar) eps - sqrt(1 - abar) z0, with the same draws', () => {
    const { loss, info } = diffusionTrainingStep(models, batch, { generator: new Generator(42), predictionType: 'v_prediction' });
    expect(info.predictionType).toBe('v_prediction');
    expect(loss.item()).toBeCloseTo(mean(perSample(hand.pred, hand.v)), 6);
    expect(Math.abs(loss.item() - mean(perSample(hand.pred, hand.noise)))).toBeGreaterThan(1e-4);
  });

  it('min-SNR weights each sample by min(snr, gamma) / snr (eps) or / (snr + 1) (v); the unweighted loss is reported', () => {
    const gamma = Math.min(...hand.snr) / 2; // below every drawn SNR: each weight is < 1
    const eps = perSample(hand.pred, hand.noise);
    const wEps = hand.snr.map((s) => Math.min(s, gamma) / s);
    const r = diffusionTrainingStep(models, batch, { generator: new Generator(42), minSnrGamma: gamma });
    expect(r.info.weights.map((w, i) => w - wEps[i]!).every((d) => Math.abs(d) < 1e-6)).toBe(true);
    expect(r.loss.item()).toBeCloseTo(mean(eps.map((e, i) => e * wEps[i]!)), 6);
    expect(r.info.unweightedLoss).toBeCloseTo(mean(eps), 6);
    expect(Math.abs(r.loss.item() - r.info.unweightedLoss)).toBeGreaterThan(1e-4);
    const v = perSample(hand.pred, hand.v);
    const wV = hand.snr.map((s) => Math.min(s, gamma) / (s + 1));
    const rv = diffusionTrainingStep(models, batch, { generator: new Generator(42), minSnrGamma: gamma, predictionType: 'v_prediction' });
    expect(rv.loss.item()).toBeCloseTo(mean(v.map((e, i) => e * wV[i]!)), 6);
  });

  it('noise offset adds offset * N(0, 1) per sample and channel to the noise', () => {
    const off = byHand(42, { noiseOffset: 0.1 });
    const { loss } = diffusionTrainingStep(models, batch, { generator: new Generator(42), noiseOffset: 0.1 });
    expect(loss.item()).toBeCloseTo(mean(perSample(off.pred, off.noise)), 6);
    // the offset is not a no-op: without it the same seed gives another loss
    expect(Math.abs(loss.item() - mean(perSample(hand.pred, hand.noise)))).toBeGreaterThan(1e-6);
    // and it is one value per sample and channel: noise minus the plain draw is constant over pixels
    const plain = noGrad(() => {
      const g = new Generator(42);
      const z0 = vae.encode(batch.images.mul(2).sub(1)).sample(g);
      vae.encode(batch.conditions).sample(g);
      return randn(z0.shape, { generator: g });
    });
    const shift = off.noise.sub(plain);
    expect(shift.max([2, 3]).sub(shift.min([2, 3])).abs().max().item()).toBeLessThan(1e-6);
    expect(shift.abs().max().item()).toBeGreaterThan(1e-3);
  });

  it('prompt dropout replaces the drawn prompts by "" (seeded), and with p = 1 all of them', () => {
    const g = new Generator(9);
    const probe = new Generator(9);
    const expectedDrop = [probe.uniform() < 0.5, probe.uniform() < 0.5];
    const r = diffusionTrainingStep(models, batch, { generator: g, promptDropout: 0.5 });
    expect(r.info.droppedPrompts).toEqual(expectedDrop);
    const manual = byHand(9, { skipUniforms: N, prompts: batch.prompts.map((p, i) => (expectedDrop[i] ? '' : p)) });
    expect(r.loss.item()).toBeCloseTo(mean(perSample(manual.pred, manual.noise)), 6);

    const all = diffusionTrainingStep(models, batch, { generator: new Generator(42), promptDropout: 1 });
    expect(all.info.droppedPrompts).toEqual([true, true]);
    const empty = byHand(42, { skipUniforms: N, prompts: ['', ''] });
    expect(all.loss.item()).toBeCloseTo(mean(perSample(empty.pred, empty.noise)), 6);
    expect(Math.abs(all.loss.item() - diffusionTrainingStep(models, batch, { generator: new Generator(42) }).loss.item())).toBeGreaterThan(1e-6);
  });

  it('takes precomputed latents, condition latents and context (and the empty context for dropout)', () => {
    const g = new Generator(42);
    const pre = noGrad(() => ({
      latents: vae.encode(batch.images.mul(2).sub(1)).sample(g).mul(vae.scalingFactor),
      conditionLatents: vae.encode(batch.conditions).sample(g).mul(vae.scalingFactor),
      context: textEncoder.forward(tokenizer.toTensor(batch.prompts)),
    }));
    const r = diffusionTrainingStep({ vae, unet, controlnet, scheduler }, pre, { generator: g });
    expect(r.info.timesteps).toEqual(hand.ts);
    expect(r.loss.item()).toBeCloseTo(mean(perSample(hand.pred, hand.noise)), 6);
    expect(() => diffusionTrainingStep({ vae, unet, controlnet, scheduler }, pre, { generator: new Generator(1), promptDropout: 1 })).toThrow(/emptyContext/);
    expect(() => diffusionTrainingStep(models, { images: batch.images, prompts: batch.prompts }, { generator: new Generator(1) })).toThrow(/ctrloraBase ControlNet needs batch.conditions/);
    expect(() => diffusionTrainingStep(models, batch, { generator: new Generator(1), noiseOffset: NaN })).toThrow(/noiseOffset must be a finite number, got NaN/);
    expect(() => diffusionTrainingStep(models, batch, { generator: new Generator(1), controlStrength: Infinity })).toThrow(/controlStrength must be a finite number, got Infinity/);
  });

  it('lossWeights [N, 1, h, w]: each sample\'s loss is sum(m (pred - eps)^2) / (C sum(m)); a constant map changes nothing', () => {
    const [, c, h, w] = hand.pred.shape as [number, number, number, number];
    // sample 0: only the left half counts; sample 1: weight 3 on the top row, 1 elsewhere
    const m = new Float32Array(N * h * w).map((_, k) => {
      const i = Math.floor(k / (h * w)), y = Math.floor((k % (h * w)) / w), x = k % w;
      return i === 0 ? (x < w / 2 ? 1 : 0) : y === 0 ? 3 : 1;
    });
    const d = (hand.pred.sub(hand.noise).square().toArray());
    const expected = [0, 1].map((i) => {
      let num = 0, den = 0;
      for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) num += m[i * h * w + p]! * d[(i * c + k) * h * w + p]!;
      for (let p = 0; p < h * w; p++) den += m[i * h * w + p]!;
      return num / (c * den);
    });
    const r = diffusionTrainingStep(models, { ...batch, lossWeights: tensor(m, [N, 1, h, w]) }, { generator: new Generator(42) });
    expect(r.info.perSampleLoss[0]).toBeCloseTo(expected[0]!, 6);
    expect(r.info.perSampleLoss[1]).toBeCloseTo(expected[1]!, 6);
    expect(r.loss.item()).toBeCloseTo(mean(expected), 6);
    const flat = diffusionTrainingStep(models, { ...batch, lossWeights: tensor(new Float32Array(N * h * w).fill(2.5), [N, 1, h, w]) }, { generator: new Generator(42) });
    expect(flat.loss.item()).toBeCloseTo(mean(perSample(hand.pred, hand.noise)), 6);
    expect(() => diffusionTrainingStep(models, { ...batch, lossWeights: tensor(new Float32Array(N * h * w), [N, 1, h, w]) }, { generator: new Generator(42) })).toThrow(/positive sum per sample/);
    expect(() => diffusionTrainingStep(models, { ...batch, lossWeights: tensor(new Float32Array(N * c * h * w), [N, c, h, w]) }, { generator: new Generator(42) })).toThrow(/lossWeights must be \[2, 1, /);
  });

  it('vanilla ControlNet: x_t and the condition image (as given, [0, 1]) go into the ControlNet', () => {
    const vanilla = ControlNetModel.fromUnet(unet, { seed: 6, conditioningEmbeddingChannels: [8, 16] });
    noGrad(() => init.normal_(vanilla.controlnet_mid_block.weight, 0, 0.05, { seed: 12 }));
    const g = new Generator(42);
    const expected = noGrad(() => {
      const z0 = vae.encode(batch.images.mul(2).sub(1)).sample(g).mul(vae.scalingFactor);
      const noise = randn(z0.shape, { generator: g });
      const ts = Array.from({ length: N }, () => g.int(0, 1000));
      const xt = scheduler.addNoise(z0, noise, ts);
      const ctx = textEncoder.forward(tokenizer.toTensor(batch.prompts));
      return mean(perSample(unet.forward(xt, ts, ctx, vanilla.forward(xt, ts, ctx, batch.conditions)), noise));
    });
    const { loss } = diffusionTrainingStep({ ...models, controlnet: vanilla }, batch, { generator: new Generator(42) });
    expect(loss.item()).toBeCloseTo(expected, 6);
    expect(Math.abs(loss.item() - diffusionTrainingStep({ ...models, controlnet: null }, batch, { generator: new Generator(42) }).loss.item())).toBeGreaterThan(1e-6);
  });
});
