import 'reflect-metadata';
import { container } from 'tsyringe';
import { describe, expect, it } from 'vitest';
import { Conv2d, GroupNorm, LayerNorm, Linear, Module, ModuleList, MultiheadAttention, shapeOnly } from '../../core/index.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { CtrLoraBaseControlNet } from '../../plugins/controlnet/index.ts';
import { diffusersToLdmKey } from '../../plugins/keymap.ts';
import { type AdapterFactory, LoraModel, ctrloraGroupOf, register as registerLoraPlugin, selectCtrloraTrainable } from '../../plugins/lora/index.ts';

/** A module holding named children only: builds trees with diffusers' key names. */
class Node extends Module {
  constructor(children: Record<string, Module>) {
    super();
    for (const [n, m] of Object.entries(children)) this.registerModule(n, m);
  }
}

const C = 8; // channels
const T = 6; // time embedding width
const resnet = (cin: number, cout: number) => new Node({
  norm1: new GroupNorm(2, cin), conv1: new Conv2d(cin, cout, 3, { padding: 1 }), time_emb_proj: new Linear(T, cout),
  norm2: new GroupNorm(2, cout), conv2: new Conv2d(cout, cout, 3, { padding: 1 }),
});
const transformer = (c: number) => new Node({
  norm: new GroupNorm(2, c), proj_in: new Conv2d(c, c, 1),
  transformer_blocks: new ModuleList([new Node({
    norm1: new LayerNorm(c), attn1: new MultiheadAttention(c, 2), norm2: new LayerNorm(c), attn2: new MultiheadAttention(c, 2, { contextDim: 4 }),
    norm3: new LayerNorm(c), ff: new Node({ net: new ModuleList([new Node({ proj: new Linear(c, 4 * c * 2) }), new Node({}), new Linear(4 * c, c)]) }),
  })]),
  proj_out: new Conv2d(c, c, 1),
});

/** A one-level ControlNet with diffusers' names. */
function tinyControlNet(): Module {
  return new Node({
    conv_in: new Conv2d(4, C, 3, { padding: 1 }),
    time_embedding: new Node({ linear_1: new Linear(C, T), linear_2: new Linear(T, T) }),
    down_blocks: new ModuleList([new Node({ resnets: new ModuleList([resnet(C, C)]), attentions: new ModuleList([transformer(C)]) })]),
    mid_block: new Node({ resnets: new ModuleList([resnet(C, C), resnet(C, C)]), attentions: new ModuleList([transformer(C)]) }),
    controlnet_down_blocks: new ModuleList([new Conv2d(C, C, 1), new Conv2d(C, C, 1)]),
    controlnet_mid_block: new Conv2d(C, C, 1),
  });
}

// Counted by hand for C = 8, T = 6:
// Linear layers: time_embedding 8->6, 6->6; 3 resnets time_emb_proj 6->8; 2 transformers x (8 attention
// projections 8->8 except attn2 to_k/to_v 4->8, ff proj 8->64, ff out 32->8).
const rank = 2;
const loraOf = (i: number, o: number) => rank * (i + o);
const loraPerTransformer = 2 * 4 * loraOf(8, 8) - 2 * loraOf(8, 8) + 2 * loraOf(4, 8) + loraOf(8, 64) + loraOf(32, 8);
const LORA = loraOf(8, 6) + loraOf(6, 6) + 3 * loraOf(6, 8) + 2 * loraPerTransformer;
const ZERO_CONVS = 3 * (C * C + C);
const TRANSFORMER_NORMS = 2 * (2 * C + 3 * 2 * C); // GroupNorm + 3 LayerNorms, weight + bias each
const RESNET_NORMS = 3 * 2 * 2 * C;

describe('selectCtrloraTrainable', () => {
  it('selects LoRA + zero convs + transformer norms, freezes the rest, counts each group', () => {
    const net = tinyControlNet();
    const lora = new LoraModel(net);
    lora.addAdapter('canny', { rank, targetModules: 'all' });
    expect(lora.targets('canny')).toHaveLength(2 + 3 + 2 * 10);
    const set = selectCtrloraTrainable(net);
    expect(set.counts.lora).toBe(LORA);
    expect(set.counts.zeroConv).toBe(ZERO_CONVS);
    expect(set.counts.transformerNorm).toBe(TRANSFORMER_NORMS);
    expect(set.counts.resnetNorm).toBe(0);
    expect(set.counts.trainable).toBe(LORA + ZERO_CONVS + TRANSFORMER_NORMS);
    expect(set.counts.total).toBe(net.numParameters().total);
    expect(net.numParameters().trainable).toBe(set.counts.trainable);
    expect(set.parameters).toHaveLength(set.names.length);
    expect(set.names).toContain('down_blocks.0.attentions.0.norm.weight');
    expect(set.names).toContain('mid_block.attentions.0.transformer_blocks.0.norm3.bias');
    expect(set.names).toContain('controlnet_mid_block.bias');
    expect(set.names).toContain('controlnet_down_blocks.1.weight');
    expect(set.names).toContain('time_embedding.linear_1.lora.canny.down.weight');
    expect(set.names).not.toContain('down_blocks.0.resnets.0.norm1.weight');
    expect(set.names).not.toContain('time_embedding.linear_1.weight');
    expect(net.getSubmodule('down_blocks.0.resnets.0.norm1').parameters()[0]!.requiresGrad).toBe(false);
    expect(net.getSubmodule('conv_in').parameters()[0]!.requiresGrad).toBe(false);
    expect(set.summary).toMatch(new RegExp(`^lora ${LORA.toLocaleString('en-US')} \\| zeroConv ${ZERO_CONVS} \\| transformerNorm ${TRANSFORMER_NORMS} \\| trainable`));
  });

  it('adds the ResBlock GroupNorms on request, and picks one adapter among several', () => {
    const net = tinyControlNet();
    const lora = new LoraModel(net);
    lora.addAdapter('canny', { rank, targetModules: 'all' });
    lora.addAdapter('depth', { rank: 1, targetModules: ['to_q'] });
    const set = selectCtrloraTrainable(net, { adapter: 'canny', includeResnetNorms: true });
    expect(set.counts.lora).toBe(LORA);
    expect(set.counts.resnetNorm).toBe(RESNET_NORMS);
    expect(set.names.some((n) => n.includes('.lora.depth.'))).toBe(false);
    expect(lora.adapterParameters('depth').every((p) => !p.requiresGrad)).toBe(true);
    const depth = selectCtrloraTrainable(net, { adapter: 'depth', apply: false });
    expect(depth.counts.lora).toBe(4 * (loraOf(8, 8) / 2)); // attn1.to_q and attn2.to_q in two transformers, rank 1
    expect(ctrloraGroupOf('mid_block.resnets.1.norm2.weight')).toBeNull();
    expect(ctrloraGroupOf('mid_block.resnets.1.norm2.weight', { includeResnetNorms: true })).toBe('resnetNorm');
    expect(() => selectCtrloraTrainable(tinyControlNet())).toThrow(/no LoRA parameters/);
  });

  it('is the plugin registered under TOKENS.Adapter', () => {
    const child = container.createChildContainer();
    registerLoraPlugin(child);
    const factory = child.resolve(TOKENS.Adapter) as AdapterFactory;
    expect(factory.name).toBe('lora');
    const net = tinyControlNet();
    const lora = factory.wrap(net);
    lora.addAdapter('x', { rank: 1, targetModules: ['linear_2'] });
    expect(factory.selectTrainable(net).counts.lora).toBe(loraOf(6, 6) / 2);
  });

  it("matches CtrLoRA on the sd15 base ControlNet (shape-only): LDM names containing 'norm', 13 zero convs, rank-128 LoRA on every Linear", () => {
    const cn = shapeOnly(() => new CtrLoraBaseControlNet('sd15'));
    const frozenNorms = [...cn.stateDict().keys()].filter((k) => /resnets\.\d+\.norm[12]\./.test(k));
    const lora = new LoraModel(cn);
    shapeOnly(() => lora.addAdapter('lighting', { rank: 128, targetModules: 'all' }));
    const set = selectCtrloraTrainable(cn, { adapter: 'lighting' });
    expect(set.counts.lora).toBe(25_419_776);
    expect(set.counts.zeroConv).toBe(11_479_680);
    expect(set.counts.transformerNorm).toBe(46_080);
    expect(set.counts.trainable).toBe(36_945_536);
    // Group by group, the same set as CtrLoRA's rule on LDM names (LoRA keys have no LDM name: skip them).
    for (const [name] of cn.namedParameters()) {
      if (name.includes('.lora.')) continue;
      const ldm = diffusersToLdmKey('controlnet', name);
      const ctrlora = ldm.includes('norm') ? 'transformerNorm' : /(^|\.)(zero_convs|middle_block_out)\./.test(ldm) ? 'zeroConv' : null;
      expect(set.groups.get(name) ?? null, `${name} (${ldm})`).toBe(ctrlora);
    }
    // The ResBlock GroupNorms (LDM in_layers.0 / out_layers.0) stay frozen unless asked for.
    expect(frozenNorms.length).toBeGreaterThan(0);
    expect(frozenNorms.every((k) => !set.groups.has(k))).toBe(true);
    const withResnet = selectCtrloraTrainable(cn, { adapter: 'lighting', includeResnetNorms: true, apply: false });
    expect(frozenNorms.every((k) => withResnet.groups.get(k) === 'resnetNorm')).toBe(true);
  });
});
