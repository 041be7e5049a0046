import { describe, expect, it } from 'vitest';
import { Linear, ReferenceBackend, init, noGrad, randn, shapeOnly, type Tensor } from '../../core/index.ts';
import { ControlNetModel, CtrLoraBaseControlNet, sumControlResiduals } from '../../plugins/controlnet/controlnet.ts';
import { UNET_TINY } from '../../plugins/unet/config.ts';
import { UNet2DConditionModel } from '../../plugins/unet/unet.ts';
import { finiteDifferenceGrads, gradMismatches } from './fd.ts';

const maxAbs = (t: Tensor) => t.abs().max().item();
const tinyCond = { conditioningEmbeddingChannels: [8, 16] };

describe('ControlNet sd15 presets (shape-only)', () => {
  const unet = shapeOnly(() => new UNet2DConditionModel('sd15'));
  const vanilla = shapeOnly(() => new ControlNetModel('sd15'));
  const base = shapeOnly(() => new CtrLoraBaseControlNet('sd15'));
  const unetSd = unet.stateDict();
  const encoderKeys = [...unetSd.keys()].filter((k) => /^(conv_in|time_embedding|down_blocks|mid_block)\./.test(k));
  const encoderParams = encoderKeys.reduce((s, k) => s + unetSd.get(k)!.size, 0);

  it('copies the UNet encoder key for key, with 12 zero convs (320 x4, 640 x3, 1280 x5) and the mid zero conv', () => {
    const sd = vanilla.stateDict();
    for (const k of encoderKeys) expect(sd.get(k)?.shape, k).toEqual(unetSd.get(k)!.shape);
    const widths = Array.from({ length: 12 }, (_, i) => sd.get(`controlnet_down_blocks.${i}.weight`)!.shape);
    expect(widths.map((s) => s[0])).toEqual([320, 320, 320, 320, 640, 640, 640, 1280, 1280, 1280, 1280, 1280]);
    expect(widths.every((s) => s[2] === 1 && s[3] === 1 && s[0] === s[1])).toBe(true);
    expect(sd.has('controlnet_down_blocks.12.weight')).toBe(false);
    expect(sd.get('controlnet_mid_block.weight')!.shape).toEqual([1280, 1280, 1, 1]);
    expect(sd.get('controlnet_cond_embedding.conv_in.weight')!.shape).toEqual([16, 3, 3, 3]);
    expect(sd.get('controlnet_cond_embedding.blocks.5.weight')!.shape).toEqual([256, 96, 3, 3]);
    expect(sd.get('controlnet_cond_embedding.conv_out.weight')!.shape).toEqual([320, 256, 3, 3]);
  });

  it('counts encoder + condition embedding (1,086,480) + zero convs (11,479,680) parameters', () => {
    expect(vanilla.numParameters().total).toBe(encoderParams + 1_086_480 + 11_479_680);
    expect(vanilla.numParameters().total).toBe(361_279_120);
    expect(vanilla.stateDict().size).toBe(340);
  });

  it('base ControlNet: no condition embedding, conv_in takes the 4-channel latent', () => {
    const sd = base.stateDict();
    expect([...sd.keys()].some((k) => k.startsWith('controlnet_cond_embedding'))).toBe(false);
    expect(sd.get('conv_in.weight')!.shape).toEqual([320, 4, 3, 3]);
    expect(base.numParameters().total).toBe(encoderParams + 11_479_680);
  });

  it('has the 82 Linear layers CtrLoRA puts LoRA on (attention, feed-forward, time projections)', () => {
    const linears = [...base.namedModules()].filter(([, m]) => m instanceof Linear).map(([n]) => n);
    expect(linears.length).toBe(82);
    expect(linears.filter((n) => n.includes('time_emb_proj')).length).toBe(10);
    expect(linears.filter((n) => n.startsWith('time_embedding')).length).toBe(2);
  });
});

describe('ControlNet tiny', () => {
  const ctx = randn([1, 2, 32], { seed: 5 });
  const xt = randn([1, 4, 8, 8], { seed: 6 });

  it('fromUnet copies the encoder bit for bit; zero convs start at zero so the UNet output is unchanged', () => {
    const unet = new UNet2DConditionModel('tiny', { seed: 1 });
    const cn = ControlNetModel.fromUnet(unet, { seed: 2, ...tinyCond });
    const a = unet.stateDict();
    for (const [k, p] of cn.stateDict()) {
      if (a.has(k)) expect(Array.from(p.toArray()), k).toEqual(Array.from(a.get(k)!.toArray()));
      if (k.startsWith('controlnet_down_blocks') || k.startsWith('controlnet_mid_block') || k.startsWith('controlnet_cond_embedding.conv_out')) expect(maxAbs(p), k).toBe(0);
    }
    const cond = randn([1, 3, 16, 16], { seed: 7 });
    const res = noGrad(() => cn.forward(xt, [3], ctx, cond));
    expect(res.downBlockAdditionalResiduals.map((r) => r.shape)).toEqual([[1, 32, 8, 8], [1, 32, 8, 8], [1, 32, 4, 4], [1, 64, 4, 4]]);
    expect(res.midBlockAdditionalResidual.shape).toEqual([1, 64, 4, 4]);
    const plain = noGrad(() => unet.forward(xt, [3], ctx));
    const controlled = noGrad(() => unet.forward(xt, [3], ctx, res));
    expect(maxAbs(controlled.sub(plain))).toBe(0);
  });

  it('the condition changes the residuals once the zero convs have learned; conditioningScale scales them', () => {
    const cn = new ControlNetModel('tiny', { seed: 2, ...tinyCond });
    for (const m of [...cn.controlnet_down_blocks, cn.controlnet_mid_block, cn.controlnet_cond_embedding.conv_out]) init.normal_(m.weight, 0, 0.1, { seed: 3 });
    const c1 = randn([1, 3, 16, 16], { seed: 7 });
    const c2 = randn([1, 3, 16, 16], { seed: 8 });
    const r1 = noGrad(() => cn.forward(xt, [3], ctx, c1));
    const r2 = noGrad(() => cn.forward(xt, [3], ctx, c2));
    expect(maxAbs(r1.midBlockAdditionalResidual.sub(r2.midBlockAdditionalResidual))).toBeGreaterThan(1e-5);
    const half = noGrad(() => cn.forward(xt, [3], ctx, c1, { conditioningScale: 0.5 }));
    half.downBlockAdditionalResiduals.forEach((r, i) => expect(maxAbs(r.mul(2).sub(r1.downBlockAdditionalResiduals[i]!))).toBeLessThan(1e-6));
    expect(() => cn.forward(xt, [3], ctx, randn([1, 3, 8, 8]))).toThrow(/2x the latent side/);
  });

  it('base ControlNet takes (condition latent, t, context), not x_t; conv_in comes from the UNet', () => {
    const unet = new UNet2DConditionModel('tiny', { seed: 1 });
    const base = CtrLoraBaseControlNet.fromUnet(unet, { seed: 4 });
    expect(Array.from(base.conv_in.weight.toArray())).toEqual(Array.from(unet.conv_in.weight.toArray()));
    expect(base.forward.length).toBe(3);
    const res = noGrad(() => base.forward(randn([2, 4, 8, 8], { seed: 1 }), [5, 900], randn([2, 3, 32], { seed: 2 })));
    expect(res.downBlockAdditionalResiduals.length).toBe(4);
    expect(res.downBlockAdditionalResiduals.every((r) => maxAbs(r) === 0)).toBe(true);
    expect(() => base.forward(randn([1, 3, 8, 8]), [5], ctx)).toThrow(/condLatent must be \[N, 4/);
  });

  it('sums several conditions with weights (1 each by default, or the mean)', () => {
    const mk = (s: number) => ({ downBlockAdditionalResiduals: [randn([1, 2, 2, 2], { seed: s }), randn([1, 3, 1, 1], { seed: s + 1 })], midBlockAdditionalResidual: randn([1, 3, 1, 1], { seed: s + 2 }) });
    const [a, b] = [mk(1), mk(10)];
    const sum = sumControlResiduals([a, b]);
    const mean = sumControlResiduals([a, b], 'mean');
    const weighted = sumControlResiduals([a, b], [0.25, 2]);
    const close = (x: Tensor, y: Tensor) => expect(maxAbs(x.sub(y))).toBeLessThan(1e-6);
    close(sum.downBlockAdditionalResiduals[0]!, a.downBlockAdditionalResiduals[0]!.add(b.downBlockAdditionalResiduals[0]!));
    close(mean.midBlockAdditionalResidual, a.midBlockAdditionalResidual.add(b.midBlockAdditionalResidual).mul(0.5));
    close(weighted.downBlockAdditionalResiduals[1]!, a.downBlockAdditionalResiduals[1]!.mul(0.25).add(b.downBlockAdditionalResiduals[1]!.mul(2)));
    expect(() => sumControlResiduals([a, b], [1])).toThrow(/2 conditions/);
  });

  it('gradients through base ControlNet -> UNet match finite differences (float64)', () => {
    const backend = new ReferenceBackend({ precision: 'float64' });
    const cfg = { ...UNET_TINY, blockOutChannels: [8, 16], normNumGroups: 4, crossAttentionDim: 8 };
    const unet = new UNet2DConditionModel(cfg, { backend, seed: 1 });
    const base = CtrLoraBaseControlNet.fromUnet(unet, { seed: 2 });
    for (const m of [...base.controlnet_down_blocks, base.controlnet_mid_block]) init.normal_(m.weight, 0, 0.3, { seed: 3 });
    const lat = randn([1, 4, 4, 4], { backend, seed: 1, requiresGrad: true });
    const xt = randn([1, 4, 4, 4], { backend, seed: 4 });
    const c = randn([1, 2, 8], { backend, seed: 2 });
    const w = randn([1, 4, 4, 4], { backend, seed: 3 });
    const loss = () => unet.forward(xt, [42], c, base.forward(lat, [42], c)).mul(w).sum();
    const p = (k: string) => base.stateDict().get(k)!;
    const rows = finiteDifferenceGrads(loss, [
      { name: 'condLatent', tensor: lat },
      { name: 'controlnet_down_blocks.0.weight', tensor: p('controlnet_down_blocks.0.weight') },
      { name: 'controlnet_mid_block.bias', tensor: p('controlnet_mid_block.bias') },
      { name: 'cn conv_in', tensor: p('conv_in.weight') },
      { name: 'cn attn1.to_v', tensor: p('down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v.weight') },
      { name: 'cn mid time_emb_proj', tensor: p('mid_block.resnets.0.time_emb_proj.weight') },
    ]);
    expect(gradMismatches(rows)).toEqual([]);
    expect(rows.filter((r) => Math.abs(r.numeric) > 1e-8).length).toBeGreaterThan(rows.length / 2);
  });

  it('gradients through the vanilla ControlNet (condition embedding included) match finite differences (float64)', () => {
    const backend = new ReferenceBackend({ precision: 'float64' });
    const cfg = { ...UNET_TINY, blockOutChannels: [8, 16], normNumGroups: 4, crossAttentionDim: 8 };
    const cn = new ControlNetModel(cfg, { backend, seed: 2, conditioningEmbeddingChannels: [4, 4] });
    for (const m of [...cn.controlnet_down_blocks, cn.controlnet_mid_block, cn.controlnet_cond_embedding.conv_out]) init.normal_(m.weight, 0, 0.3, { seed: 3 });
    const xt = randn([1, 4, 4, 4], { backend, seed: 1, requiresGrad: true });
    const cond = randn([1, 3, 8, 8], { backend, seed: 5, requiresGrad: true });
    const c = randn([1, 2, 8], { backend, seed: 2 });
    const w = [randn([1, 8, 4, 4], { backend, seed: 6 }), randn([1, 16, 2, 2], { backend, seed: 7 })];
    const loss = () => {
      const r = cn.forward(xt, [42], c, cond, { conditioningScale: 0.7 });
      return r.downBlockAdditionalResiduals[1]!.mul(w[0]!).sum().add(r.midBlockAdditionalResidual.mul(w[1]!).sum());
    };
    const p = (k: string) => cn.stateDict().get(k)!;
    const rows = finiteDifferenceGrads(loss, [
      { name: 'x_t', tensor: xt },
      { name: 'condition image', tensor: cond },
      { name: 'cond_embedding.conv_in', tensor: p('controlnet_cond_embedding.conv_in.weight') },
      { name: 'cond_embedding.blocks.1', tensor: p('controlnet_cond_embedding.blocks.1.weight') },
      { name: 'down_blocks.1 resnet conv2', tensor: p('down_blocks.1.resnets.0.conv2.weight') },
    ]);
    expect(gradMismatches(rows)).toEqual([]);
    expect(rows.filter((r) => Math.abs(r.numeric) > 1e-8).length).toBeGreaterThan(rows.length / 2);
  });
});
