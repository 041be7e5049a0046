import { describe, expect, it } from 'vitest';
import { noGrad, randn, shapeOnly } from '../../core/index.ts';
import { ControlNetModel, CtrLoraBaseControlNet } from '../../plugins/controlnet/controlnet.ts';
import { upgradeLegacyVaeKey, diffusersToLdmKey, diffusersToLdmStateDict, ldmToDiffusersKey, ldmToDiffusersStateDict, splitLdmCheckpoint, type ModelKind } from '../../plugins/keymap.ts';
import { UNET_TINY } from '../../plugins/unet/config.ts';
import { UNet2DConditionModel } from '../../plugins/unet/unet.ts';
import { AutoencoderKL } from '../../plugins/vae/autoencoder.ts';
import { VAE_TINY } from '../../plugins/vae/config.ts';

describe('LDM (CtrLoRA) <-> diffusers key map', () => {
  const models: [string, ModelKind, string[]][] = [
    ['unet', 'unet', [...shapeOnly(() => new UNet2DConditionModel('sd15')).stateDict().keys()]],
    ['controlnet', 'controlnet', [...shapeOnly(() => new ControlNetModel('sd15')).stateDict().keys()]],
    ['ctrLoRA base', 'controlnet', [...shapeOnly(() => new CtrLoraBaseControlNet('sd15')).stateDict().keys()]],
    ['vae', 'vae', [...shapeOnly(() => new AutoencoderKL('sd15')).stateDict().keys()]],
  ];

  for (const [label, kind, keys] of models) {
    it(`every sd15 ${label} key round-trips, and the LDM names are distinct`, () => {
      const ldm = keys.map((k) => diffusersToLdmKey(kind, k));
      expect(new Set(ldm).size).toBe(keys.length);
      expect(ldm.map((k) => ldmToDiffusersKey(kind, k))).toEqual(keys);
    });
  }

  it('translates known SD1.5 / ControlNet 1.x / CtrLoRA names', () => {
    const pairs: [ModelKind, string, string][] = [
      ['unet', 'conv_in.weight', 'model.diffusion_model.input_blocks.0.0.weight'],
      ['unet', 'time_embedding.linear_2.bias', 'model.diffusion_model.time_embed.2.bias'],
      ['unet', 'down_blocks.0.resnets.1.time_emb_proj.weight', 'model.diffusion_model.input_blocks.2.0.emb_layers.1.weight'],
      ['unet', 'down_blocks.1.resnets.0.conv_shortcut.weight', 'model.diffusion_model.input_blocks.4.0.skip_connection.weight'],
      ['unet', 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight', 'model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight'],
      ['unet', 'down_blocks.2.downsamplers.0.conv.weight', 'model.diffusion_model.input_blocks.9.0.op.weight'],
      ['unet', 'down_blocks.3.resnets.1.conv2.bias', 'model.diffusion_model.input_blocks.11.0.out_layers.3.bias'],
      ['unet', 'mid_block.resnets.1.norm1.weight', 'model.diffusion_model.middle_block.2.in_layers.0.weight'],
      ['unet', 'mid_block.attentions.0.proj_out.weight', 'model.diffusion_model.middle_block.1.proj_out.weight'],
      ['unet', 'up_blocks.0.upsamplers.0.conv.weight', 'model.diffusion_model.output_blocks.2.1.conv.weight'],
      ['unet', 'up_blocks.1.upsamplers.0.conv.weight', 'model.diffusion_model.output_blocks.5.2.conv.weight'],
      ['unet', 'up_blocks.3.attentions.2.transformer_blocks.0.ff.net.2.weight', 'model.diffusion_model.output_blocks.11.1.transformer_blocks.0.ff.net.2.weight'],
      ['unet', 'conv_norm_out.weight', 'model.diffusion_model.out.0.weight'],
      ['unet', 'conv_out.bias', 'model.diffusion_model.out.2.bias'],
      ['controlnet', 'controlnet_cond_embedding.conv_in.weight', 'control_model.input_hint_block.0.weight'],
      ['controlnet', 'controlnet_cond_embedding.blocks.5.weight', 'control_model.input_hint_block.12.weight'],
      ['controlnet', 'controlnet_cond_embedding.conv_out.bias', 'control_model.input_hint_block.14.bias'],
      ['controlnet', 'controlnet_down_blocks.11.weight', 'control_model.zero_convs.11.0.weight'],
      ['controlnet', 'controlnet_mid_block.bias', 'control_model.middle_block_out.0.bias'],
      ['controlnet', 'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_layer.down.weight', 'control_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.lora_layer.down.weight'],
      ['controlnet', 'down_blocks.0.resnets.0.time_emb_proj.lora_layer.up.weight', 'control_model.input_blocks.1.0.emb_layers.1.lora_layer.up.weight'],
      ['vae', 'encoder.down_blocks.1.resnets.0.conv_shortcut.weight', 'first_stage_model.encoder.down.1.block.0.nin_shortcut.weight'],
      ['vae', 'encoder.down_blocks.0.downsamplers.0.conv.bias', 'first_stage_model.encoder.down.0.downsample.conv.bias'],
      ['vae', 'encoder.mid_block.attentions.0.to_q.weight', 'first_stage_model.encoder.mid.attn_1.q.weight'],
      ['vae', 'decoder.mid_block.attentions.0.to_out.0.bias', 'first_stage_model.decoder.mid.attn_1.proj_out.bias'],
      ['vae', 'decoder.mid_block.attentions.0.group_norm.weight', 'first_stage_model.decoder.mid.attn_1.norm.weight'],
      ['vae', 'decoder.mid_block.resnets.1.conv1.weight', 'first_stage_model.decoder.mid.block_2.conv1.weight'],
      ['vae', 'decoder.up_blocks.3.resnets.0.conv_shortcut.weight', 'first_stage_model.decoder.up.0.block.0.nin_shortcut.weight'],
      ['vae', 'decoder.up_blocks.0.upsamplers.0.conv.weight', 'first_stage_model.decoder.up.3.upsample.conv.weight'],
      ['vae', 'decoder.conv_norm_out.weight', 'first_stage_model.decoder.norm_out.weight'],
      ['vae', 'post_quant_conv.weight', 'first_stage_model.post_quant_conv.weight'],
      ['textEncoder', 'text_model.encoder.layers.0.self_attn.q_proj.weight', 'cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight'],
    ];
    for (const [kind, diffusers, ldm] of pairs) {
      expect(diffusersToLdmKey(kind, diffusers), diffusers).toBe(ldm);
      expect(ldmToDiffusersKey(kind, ldm), ldm).toBe(diffusers);
    }
    expect(diffusersToLdmKey('unet', 'conv_in.weight', { prefix: false })).toBe('input_blocks.0.0.weight');
  });

  it('upgrades legacy diffusers VAE attention names (query/key/value/proj_attn)', () => {
    expect(upgradeLegacyVaeKey('encoder.mid_block.attentions.0.query.weight')).toBe('encoder.mid_block.attentions.0.to_q.weight');
    expect(upgradeLegacyVaeKey('decoder.mid_block.attentions.0.proj_attn.bias')).toBe('decoder.mid_block.attentions.0.to_out.0.bias');
    expect(upgradeLegacyVaeKey('decoder.mid_block.attentions.0.group_norm.bias')).toBe('decoder.mid_block.attentions.0.group_norm.bias');
    expect(upgradeLegacyVaeKey('encoder.down_blocks.0.resnets.0.conv1.weight')).toBe('encoder.down_blocks.0.resnets.0.conv1.weight');
  });

  it("reproduces CtrLoRA's trainable-norm rule: LDM names containing 'norm' are the transformer norms only (46,080 params in sd15)", () => {
    const cn = shapeOnly(() => new CtrLoraBaseControlNet('sd15'));
    const norms = [...cn.stateDict()].filter(([k]) => diffusersToLdmKey('controlnet', k).includes('norm'));
    expect(norms.every(([k]) => /attentions\.\d+\.(norm|transformer_blocks\.0\.norm[123])\./.test(k))).toBe(true);
    expect(norms.reduce((s, [, p]) => s + p.size, 0)).toBe(46_080);
    // In diffusers names the ResBlock GroupNorms (norm1/norm2) contain 'norm' too: match on LDM names.
    expect([...cn.stateDict().keys()].filter((k) => k.includes('norm')).length).toBeGreaterThan(norms.length);
  });

  it('refuses names no rule maps, naming the key', () => {
    expect(() => ldmToDiffusersKey('unet', 'model.diffusion_model.input_blocks.3.1.weight')).toThrow(/input_blocks\.3\.1/);
    expect(() => ldmToDiffusersKey('unet', 'first_stage_model.encoder.conv_in.weight')).toThrow(/does not start with/);
    expect(() => diffusersToLdmKey('vae', 'encoder.something.weight')).toThrow(/encoder\.something/);
  });

  it('converts whole tiny state dicts both ways (VAE attention as 1x1 convs in LDM) and loads them back', () => {
    const vae = new AutoencoderKL('tiny', { seed: 1 });
    const ldm = diffusersToLdmStateDict('vae', vae.stateDict(), { vae: VAE_TINY });
    expect(ldm.get('first_stage_model.encoder.mid.attn_1.q.weight')!.shape).toEqual([32, 32, 1, 1]);
    const other = new AutoencoderKL('tiny', { seed: 2 });
    other.loadStateDict(ldmToDiffusersStateDict('vae', ldm, { vae: VAE_TINY }));
    const x = randn([1, 3, 4, 4], { seed: 3 });
    expect(Array.from(noGrad(() => other.forward(x)).toArray())).toEqual(Array.from(noGrad(() => vae.forward(x)).toArray()));

    const unet = new UNet2DConditionModel('tiny', { seed: 1 });
    const cn = new ControlNetModel('tiny', { seed: 1, conditioningEmbeddingChannels: [8, 16] });
    const checkpoint = new Map([
      ...diffusersToLdmStateDict('unet', unet.stateDict(), { unet: UNET_TINY }),
      ...diffusersToLdmStateDict('controlnet', cn.stateDict(), { unet: UNET_TINY, condEmbeddingLevels: 2 }),
      ...diffusersToLdmStateDict('vae', vae.stateDict(), { vae: VAE_TINY }),
      ['alphas_cumprod', randn([3])],
    ]);
    const split = splitLdmCheckpoint(checkpoint, { unet: UNET_TINY, vae: VAE_TINY, condEmbeddingLevels: 2 });
    expect([...split.other.keys()]).toEqual(['alphas_cumprod']);
    new UNet2DConditionModel('tiny', { seed: 5 }).loadStateDict(split.unet);
    new ControlNetModel('tiny', { seed: 5, conditioningEmbeddingChannels: [8, 16] }).loadStateDict(split.controlnet);
    new AutoencoderKL('tiny', { seed: 5 }).loadStateDict(split.vae);
  });
});
