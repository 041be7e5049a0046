import { describe, expect, it } from 'vitest';
import { ReferenceBackend, TensorError, assertGradcheck, noGrad, randn, shapeOnly, type Tensor } from '../../core/index.ts';
import { UNet2DConditionModel } from '../../plugins/unet/unet.ts';
import { UNET_TINY, resolveUNetConfig } from '../../plugins/unet/config.ts';
import { resolveVaeConfig } from '../../plugins/vae/config.ts';
import { timestepSinusoids } from '../../plugins/unet/embeddings.ts';
import { finiteDifferenceGrads, gradMismatches } from './fd.ts';

describe('UNet2DConditionModel sd15 preset (shape-only)', () => {
  const unet = shapeOnly(() => new UNet2DConditionModel('sd15'));
  const keys = [...unet.stateDict().keys()];

  it('has exactly diffusers SD1.5 parameter count and tensor count', () => {
    expect(unet.numParameters().total).toBe(859_520_964);
    expect(keys.length).toBe(686);
  });

  it('uses diffusers key names and shapes', () => {
    const sd = unet.stateDict();
    const shape = (k: string) => sd.get(k)?.shape;
    expect(shape('conv_in.weight')).toEqual([320, 4, 3, 3]);
    expect(shape('time_embedding.linear_1.weight')).toEqual([1280, 320]);
    expect(shape('time_embedding.linear_2.weight')).toEqual([1280, 1280]);
    expect(shape('down_blocks.0.resnets.0.time_emb_proj.weight')).toEqual([320, 1280]);
    expect(shape('down_blocks.1.resnets.0.conv_shortcut.weight')).toEqual([640, 320, 1, 1]);
    expect(shape('down_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k.weight')).toEqual([320, 768]);
    expect(shape('down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight')).toEqual([2560, 320]);
    expect(shape('down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight')).toEqual([320, 1280]);
    expect(shape('down_blocks.0.attentions.0.proj_in.weight')).toEqual([320, 320, 1, 1]);
    expect(shape('down_blocks.2.downsamplers.0.conv.weight')).toEqual([1280, 1280, 3, 3]);
    expect(shape('mid_block.attentions.0.transformer_blocks.0.attn1.to_out.0.bias')).toEqual([1280]);
    expect(shape('up_blocks.0.resnets.2.conv1.weight')).toEqual([1280, 2560, 3, 3]);
    expect(shape('up_blocks.1.resnets.2.conv_shortcut.weight')).toEqual([1280, 1920, 1, 1]);
    expect(shape('up_blocks.3.resnets.0.conv1.weight')).toEqual([320, 960, 3, 3]);
    expect(shape('up_blocks.3.attentions.2.norm.weight')).toEqual([320]);
    expect(shape('up_blocks.2.upsamplers.0.conv.weight')).toEqual([640, 640, 3, 3]);
    expect(shape('conv_out.weight')).toEqual([4, 320, 3, 3]);
    expect(keys.some((k) => k.startsWith('down_blocks.3.attentions'))).toBe(false);
    expect(keys.some((k) => k.startsWith('up_blocks.3.upsamplers'))).toBe(false);
    expect(keys.some((k) => /attn\d\.to_[qkv]\.bias/.test(k))).toBe(false);
  });

  it('refuses to run on shape-only parameters with a clear error', () => {
    const x = shapeOnly(() => randn([1, 4, 8, 8]));
    const ctx = shapeOnly(() => randn([1, 2, 768]));
    expect(() => unet.forward(x, [1], ctx)).toThrow(TensorError);
  });
});

describe('UNet2DConditionModel tiny preset', () => {
  it('maps [N,4,H,W] to the same shape, deterministically for a seed', () => {
    const a = new UNet2DConditionModel('tiny', { seed: 3 });
    const b = new UNet2DConditionModel('tiny', { seed: 3 });
    const x = randn([2, 4, 8, 8], { seed: 1 });
    const ctx = randn([2, 3, 32], { seed: 2 });
    const ya = noGrad(() => a.forward(x, [10, 500], ctx));
    const yb = noGrad(() => b.forward(x, [10, 500], ctx));
    expect(ya.shape).toEqual([2, 4, 8, 8]);
    expect(Array.from(ya.toArray())).toEqual(Array.from(yb.toArray()));
    // The timestep and the context both change the output.
    const yt = noGrad(() => a.forward(x, [11, 500], ctx));
    const yc = noGrad(() => a.forward(x, [10, 500], ctx.mul(2)));
    const diff = (p: Tensor, q: Tensor) => p.sub(q).abs().max().item();
    expect(diff(ya, yt)).toBeGreaterThan(1e-6);
    expect(diff(ya, yc)).toBeGreaterThan(1e-6);
  });

  it('adds ControlNet residuals to every skip and to the mid block', () => {
    const unet = new UNet2DConditionModel('tiny', { seed: 1 });
    const x = randn([1, 4, 8, 8], { seed: 4 });
    const ctx = randn([1, 2, 32], { seed: 5 });
    // tiny: conv_in, down0 (resnet, downsampler), down1 (resnet) -> widths 32, 32, 32, 64 at 8, 8, 4, 4.
    const shapes = [[1, 32, 8, 8], [1, 32, 8, 8], [1, 32, 4, 4], [1, 64, 4, 4]];
    const zeros = shapes.map((s) => randn(s).mul(0));
    const base = noGrad(() => unet.forward(x, [7], ctx));
    const withZeros = noGrad(() => unet.forward(x, [7], ctx, { downBlockAdditionalResiduals: zeros, midBlockAdditionalResidual: randn([1, 64, 4, 4]).mul(0) }));
    expect(withZeros.sub(base).abs().max().item()).toBe(0);
    shapes.forEach((_, i) => {
      const res = zeros.map((z, j) => (j === i ? randn(shapes[j]!, { seed: 9 }) : z));
      const y = noGrad(() => unet.forward(x, [7], ctx, { downBlockAdditionalResiduals: res }));
      expect(y.sub(base).abs().max().item()).toBeGreaterThan(1e-4);
    });
    const ym = noGrad(() => unet.forward(x, [7], ctx, { midBlockAdditionalResidual: randn([1, 64, 4, 4], { seed: 9 }) }));
    expect(ym.sub(base).abs().max().item()).toBeGreaterThan(1e-4);
    expect(() => unet.forward(x, [7], ctx, { downBlockAdditionalResiduals: zeros.slice(1) })).toThrow(/downBlockAdditionalResiduals has 3 tensors, the down path makes 4/);
    // a [N, C, 1, 1] residual would broadcast: refused
    expect(() => unet.forward(x, [7], ctx, { midBlockAdditionalResidual: randn([1, 64, 1, 1]) })).toThrow(/midBlockAdditionalResidual is \[1, 64, 1, 1\], the mid block's output is \[1, 64, 4, 4\]/);
  });

  it('computes sinusoidal timestep features as diffusers (flip_sin_to_cos, shift 0)', () => {
    const e = timestepSinusoids([0, 100], 8, new ReferenceBackend()).toArray();
    // t = 0: cos = 1 then sin = 0.
    expect(Array.from(e.slice(0, 8))).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
    // t = 100, i = 1: freq = exp(-ln(10000) / 4) = 0.1 -> arg 10.
    expect(e[8 + 1]).toBeCloseTo(Math.cos(10), 6);
    expect(e[8 + 4 + 1]).toBeCloseTo(Math.sin(10), 6);
  });

  it('has gradients that match finite differences (float64)', () => {
    const backend = new ReferenceBackend({ precision: 'float64' });
    const unet = new UNet2DConditionModel({ ...UNET_TINY, blockOutChannels: [8, 16], normNumGroups: 4, crossAttentionDim: 8 }, { backend, seed: 2 });
    const x = randn([1, 4, 4, 4], { backend, seed: 1, requiresGrad: true });
    const ctx = randn([1, 2, 8], { backend, seed: 2, requiresGrad: true });
    const w = randn([1, 4, 4, 4], { backend, seed: 3 });
    const loss = () => unet.forward(x, [42], ctx).mul(w).sum();
    const p = (k: string) => unet.stateDict().get(k)!;
    const rows = finiteDifferenceGrads(loss, [
      { name: 'x', tensor: x },
      { name: 'ctx', tensor: ctx },
      { name: 'conv_in.weight', tensor: p('conv_in.weight') },
      { name: 'time_embedding.linear_1.weight', tensor: p('time_embedding.linear_1.weight') },
      { name: 'attn2.to_k', tensor: p('down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight') },
      { name: 'ff.net.0.proj', tensor: p('up_blocks.1.attentions.1.transformer_blocks.0.ff.net.0.proj.weight') },
      { name: 'mid norm', tensor: p('mid_block.resnets.1.norm1.weight') },
      { name: 'up conv_shortcut', tensor: p('up_blocks.0.resnets.0.conv_shortcut.weight') },
    ]);
    expect(gradMismatches(rows)).toEqual([]);
    expect(rows.filter((r) => Math.abs(r.numeric) > 1e-8).length).toBeGreaterThan(rows.length / 2);
  });

  it('passes the core gradcheck for the text context and the ControlNet mid residual (float64)', () => {
    const backend = new ReferenceBackend({ precision: 'float64' });
    const unet = new UNet2DConditionModel({ ...UNET_TINY, blockOutChannels: [8, 16], normNumGroups: 4, crossAttentionDim: 4 }, { backend, seed: 6 });
    const x = randn([1, 4, 4, 4], { backend, seed: 1 });
    const ctx = randn([1, 2, 4], { backend, seed: 2 });
    const mid = randn([1, 16, 2, 2], { backend, seed: 3 }).mul(0.1);
    assertGradcheck((c, m) => unet.forward(x, [321], c!, { midBlockAdditionalResidual: m! }), [ctx, mid]);
  });
});

describe('presets', () => {
  it('an unknown preset name is refused in both forms (name, or overrides over a preset)', () => {
    expect(() => resolveUNetConfig('sd14' as never)).toThrow(/UNet: unknown preset 'sd14' \(known: sd15, tiny\)/);
    expect(() => resolveUNetConfig({ preset: 'sd14' as never, layersPerBlock: 1 })).toThrow(/UNet: unknown preset 'sd14'/);
    expect(() => resolveVaeConfig({ preset: 'toString' as never })).toThrow(/VAE: unknown preset 'toString' \(known: sd15, tiny\)/);
    expect(resolveUNetConfig({ preset: 'sd15', crossAttentionDim: 1024 })).toMatchObject({ blockOutChannels: [320, 640, 1280, 1280], crossAttentionDim: 1024 });
    expect(resolveVaeConfig({ latentChannels: 8 })).toMatchObject({ blockOutChannels: [16, 32], latentChannels: 8 });
  });
});
