import { describe, expect, it } from 'vitest';
import { Adam, Generator, ReferenceBackend, noGrad, randn, shapeOnly, tensor, type Tensor } from '../../core/index.ts';
import { CtrLoraBaseControlNet } from '../../plugins/controlnet/controlnet.ts';
import { AutoencoderKL } from '../../plugins/vae/autoencoder.ts';
import { DiagonalGaussianDistribution } from '../../plugins/vae/distribution.ts';
import { finiteDifferenceGrads, gradMismatches } from './fd.ts';

const maxAbs = (t: Tensor) => t.abs().max().item();

describe('AutoencoderKL sd15 preset (shape-only)', () => {
  const vae = shapeOnly(() => new AutoencoderKL('sd15'));
  it('has SD1.5 VAE parameter count (83,653,863 in 248 tensors) and diffusers key names', () => {
    expect(vae.numParameters().total).toBe(83_653_863);
    const sd = vae.stateDict();
    expect(sd.size).toBe(248);
    expect(sd.get('encoder.conv_in.weight')!.shape).toEqual([128, 3, 3, 3]);
    expect(sd.get('encoder.down_blocks.1.resnets.0.conv_shortcut.weight')!.shape).toEqual([256, 128, 1, 1]);
    expect(sd.get('encoder.down_blocks.2.downsamplers.0.conv.weight')!.shape).toEqual([512, 512, 3, 3]);
    expect(sd.get('encoder.mid_block.attentions.0.group_norm.weight')!.shape).toEqual([512]);
    expect(sd.get('encoder.mid_block.attentions.0.to_q.bias')!.shape).toEqual([512]);
    expect(sd.get('encoder.mid_block.attentions.0.to_out.0.weight')!.shape).toEqual([512, 512]);
    expect(sd.get('encoder.conv_out.weight')!.shape).toEqual([8, 512, 3, 3]);
    expect(sd.get('quant_conv.weight')!.shape).toEqual([8, 8, 1, 1]);
    expect(sd.get('post_quant_conv.weight')!.shape).toEqual([4, 4, 1, 1]);
    expect(sd.get('decoder.conv_in.weight')!.shape).toEqual([512, 4, 3, 3]);
    expect(sd.get('decoder.up_blocks.3.resnets.2.conv2.weight')!.shape).toEqual([128, 128, 3, 3]);
    expect(sd.get('decoder.up_blocks.2.resnets.0.conv_shortcut.weight')!.shape).toEqual([256, 512, 1, 1]);
    expect(sd.get('decoder.up_blocks.0.upsamplers.0.conv.weight')!.shape).toEqual([512, 512, 3, 3]);
    expect(sd.has('decoder.up_blocks.3.upsamplers.0.conv.weight')).toBe(false);
    expect(vae.scalingFactor).toBe(0.18215);
    expect(vae.downsampleFactor).toBe(8);
  });
});

describe('DiagonalGaussianDistribution', () => {
  it('splits mean/logvar on channels, samples reproducibly, and has the closed-form KL', () => {
    const params = randn([2, 4, 2, 3], { seed: 1 });
    const d = new DiagonalGaussianDistribution(params);
    const p = params.toArray();
    expect(Array.from(d.mode().toArray())).toEqual(Array.from(params.slice(1, 0, 2).contiguous().toArray()));
    const s1 = d.sample(new Generator(7)).toArray();
    const s2 = d.sample(new Generator(7)).toArray();
    expect(Array.from(s1)).toEqual(Array.from(s2));
    // KL of item 0 by hand: 0.5 * sum(mu^2 + exp(lv) - 1 - lv).
    let kl = 0;
    for (let c = 0; c < 2; c++) for (let i = 0; i < 6; i++) {
      const mu = p[c * 6 + i]!;
      const lv = p[(c + 2) * 6 + i]!;
      kl += 0.5 * (mu * mu + Math.exp(lv) - 1 - lv);
    }
    expect(d.kl().toArray()[0]).toBeCloseTo(kl, 4);
    // logvar is clamped to [-30, 20].
    const big = new DiagonalGaussianDistribution(tensor([0, 100], [1, 2, 1, 1]));
    expect(big.logvar.item()).toBe(20);
  });
});

describe('AutoencoderKL tiny', () => {
  it('encodes [N,3,H,W] to [N,4,H/2,W/2] posteriors and decodes back', () => {
    const vae = new AutoencoderKL('tiny', { seed: 1 });
    const x = randn([2, 3, 8, 8], { seed: 2 });
    const post = noGrad(() => vae.encode(x));
    expect(post.mean.shape).toEqual([2, 4, 4, 4]);
    expect(noGrad(() => vae.decode(post.mode())).shape).toEqual([2, 3, 8, 8]);
    expect(() => vae.encode(randn([1, 3, 7, 8]))).toThrow(/multiples of 2/);
  });

  it('overfits 3 images of 8x8 to over 25 dB PSNR in 60 Adam steps', () => {
    const [N, S] = [3, 8];
    const data = new Float32Array(N * 3 * S * S);
    for (let n = 0; n < N; n++) for (let c = 0; c < 3; c++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      data[((n * 3 + c) * S + y) * S + x] = Math.sin((x + 1) * (n + 1) * 0.4 + c) * Math.cos(y * (c + 1) * 0.3 + n);
    }
    const images = tensor(data, [N, 3, S, S]);
    const vae = new AutoencoderKL('tiny', { seed: 0 });
    // Pixels in [-1, 1]: peak-to-peak 2, so PSNR = 10 log10(4 / MSE).
    const psnr = () => noGrad(() => 10 * Math.log10(4 / vae.forward(images).sub(images).square().mean().item()));
    const before = psnr();
    const optimizer = new Adam(vae.parameters(), { lr: 6e-3 });
    const generator = new Generator(1);
    for (let i = 0; i < 60; i++) {
      optimizer.zeroGrad();
      vae.loss(images, { generator }).loss.backward();
      optimizer.step();
    }
    const after = psnr();
    expect(before).toBeLessThan(15);
    expect(after).toBeGreaterThan(25);
  });

  it('has loss gradients that match finite differences (float64)', () => {
    const backend = new ReferenceBackend({ precision: 'float64' });
    const vae = new AutoencoderKL({ blockOutChannels: [8, 8], normNumGroups: 4 }, { backend, seed: 3 });
    const x = randn([1, 3, 4, 4], { backend, seed: 1, requiresGrad: true });
    const loss = () => vae.loss(x, { generator: new Generator(5), klWeight: 0.1 }).loss;
    const p = (k: string) => vae.stateDict().get(k)!;
    const rows = finiteDifferenceGrads(loss, [
      { name: 'x', tensor: x },
      { name: 'encoder.conv_in', tensor: p('encoder.conv_in.weight') },
      { name: 'mid attention to_k', tensor: p('encoder.mid_block.attentions.0.to_k.weight') },
      { name: 'quant_conv', tensor: p('quant_conv.weight') },
      { name: 'decoder upsampler', tensor: p('decoder.up_blocks.0.upsamplers.0.conv.weight') },
      { name: 'decoder norm', tensor: p('decoder.conv_norm_out.bias') },
    ]);
    expect(gradMismatches(rows)).toEqual([]);
    expect(rows.filter((r) => Math.abs(r.numeric) > 1e-8).length).toBeGreaterThan(rows.length / 2);
  });

  it('encodes base-ControlNet conditions: [0,1] pixels by default, sampled, times scalingFactor, no grad', () => {
    const vae = new AutoencoderKL('tiny', { seed: 1 });
    const img = randn([1, 3, 8, 8], { seed: 3 }).sigmoid();
    const z = CtrLoraBaseControlNet.encodeCondition(vae, img, { generator: new Generator(2) });
    const expected = noGrad(() => vae.encode(img).sample(new Generator(2)).mul(0.18215));
    expect(maxAbs(z.sub(expected))).toBeLessThan(1e-7);
    expect(z.requiresGrad).toBe(false);
    const zMode = CtrLoraBaseControlNet.encodeCondition(vae, img, { posterior: 'mode', range: 'minusOneOne' });
    const expectedMode = noGrad(() => vae.encode(img.mul(2).sub(1)).mode().mul(0.18215));
    expect(maxAbs(zMode.sub(expectedMode))).toBeLessThan(1e-7);
    expect(maxAbs(zMode.sub(z))).toBeGreaterThan(1e-4);
  });
});
