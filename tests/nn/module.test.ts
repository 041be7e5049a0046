import { describe, expect, it } from 'vitest';
import {
  Conv2d, Dropout, GELU, GroupNorm, Linear, Module, ModuleList, ReferenceBackend, Sequential, SiLU,
  SGD, StateDictError, Tensor, conv2d, init, mseLoss, randn, tensor,
} from '../../core/index.ts';

/** A miniature of diffusers' nesting: down_blocks.{i}.resnets.{j}.conv1 */
class Resnet extends Module {
  conv1: Conv2d;
  norm1: GroupNorm;
  constructor(ch: number, seed: number) {
    super();
    this.norm1 = this.registerModule('norm1', new GroupNorm(2, ch));
    this.conv1 = this.registerModule('conv1', new Conv2d(ch, ch, 3, { padding: 1, seed }));
  }
  forward(x: Tensor): Tensor {
    return x.add(this.conv1.forward(this.norm1.forward(x).silu()));
  }
}
class DownBlock extends Module {
  resnets: ModuleList<Resnet>;
  constructor(ch: number, seed: number) {
    super();
    this.resnets = this.registerModule('resnets', new ModuleList([new Resnet(ch, seed), new Resnet(ch, seed + 1)]));
  }
}
class Net extends Module {
  down_blocks: ModuleList<DownBlock>;
  proj: Linear;
  constructor(seed = 0) {
    super();
    this.down_blocks = this.registerModule('down_blocks', new ModuleList([new DownBlock(4, seed), new DownBlock(4, seed + 10)]));
    this.proj = this.registerModule('proj', new Linear(4, 2, { seed: seed + 100 }));
  }
}

describe('Module', () => {
  it('names parameters with dotted paths like diffusers', () => {
    const names = [...new Net().stateDict().keys()];
    expect(names).toContain('down_blocks.0.resnets.1.conv1.weight');
    expect(names).toContain('down_blocks.1.resnets.0.norm1.bias');
    expect(names).toContain('proj.weight');
    expect(names.length).toBe(2 * 2 * 4 + 2);
    const net = new Net();
    expect(net.numParameters().total).toBe(4 * (4 * 4 * 9 + 4 + 4 + 4) + 4 * 2 + 2);
    expect(net.getSubmodule('down_blocks.0.resnets.1.conv1')).toBeInstanceOf(Conv2d);
    expect(() => net.getSubmodule('down_blocks.0.attentions')).toThrow(/no submodule 'attentions' under 'down_blocks.0' \(has: resnets\)/);
  });

  it('loads a state dict in place and is seeded-deterministic', () => {
    const a = new Net(1);
    const b = new Net(2);
    const w = b.proj.weight;
    expect(Array.from(a.proj.weight.toArray())).not.toEqual(Array.from(w.toArray()));
    expect(b.loadStateDict(a.stateDict())).toEqual({ missing: [], unexpected: [] });
    expect(b.proj.weight).toBe(w); // same Tensor object, new values
    for (const [k, t] of a.stateDict()) expect(Array.from(b.stateDict().get(k)!.toArray())).toEqual(Array.from(t.toArray()));
    expect(Array.from(new Net(1).proj.weight.toArray())).toEqual(Array.from(a.proj.weight.toArray()));
  });

  it('lists missing, unexpected and wrong-shape keys, and copies nothing on error', () => {
    const net = new Net();
    const before = net.proj.bias!.toArray();
    const sd = new Map(new Net(5).stateDict());
    sd.delete('down_blocks.0.resnets.0.conv1.bias');
    sd.set('extra.weight', tensor([1]));
    sd.set('proj.weight', randn([3, 4], { seed: 1 }));
    let err: unknown;
    try {
      net.loadStateDict(sd);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    const e = err as StateDictError;
    expect(e.missing).toEqual(['down_blocks.0.resnets.0.conv1.bias']);
    expect(e.unexpected).toEqual(['extra.weight']);
    expect(e.wrongShape).toEqual([{ key: 'proj.weight', expected: [2, 4], got: [3, 4] }]);
    expect(e.message).toMatch(/missing keys \(1\): down_blocks\.0\.resnets\.0\.conv1\.bias/);
    expect(e.message).toMatch(/unexpected keys \(1\): extra\.weight/);
    expect(e.message).toMatch(/proj\.weight expects \[2, 4\], got \[3, 4\]/);
    expect(Array.from(net.proj.bias!.toArray())).toEqual(Array.from(before));
    // non-strict: missing/unexpected are reported, wrong shapes still refused
    sd.set('proj.weight', randn([2, 4], { seed: 1 }));
    expect(net.loadStateDict(sd, { strict: false })).toEqual({ missing: ['down_blocks.0.resnets.0.conv1.bias'], unexpected: ['extra.weight'] });
    expect(Array.from(net.proj.weight.toArray())).toEqual(Array.from(sd.get('proj.weight')!.toArray()));
  });

  it('freezes by name pattern, switches train/eval through the tree, applies init functions', () => {
    const net = new Net();
    const frozen = net.freeze('down_blocks.*.norm1.*');
    expect(frozen.length).toBe(8);
    expect(net.numParameters().trainable).toBe(net.numParameters().total - 8 * 4);
    expect(net.trainableParameters().every((p) => !p.name!.startsWith('norm'))).toBe(true);
    expect(net.unfreeze(/^down_blocks\.0\./)).toHaveLength(8);
    net.eval();
    expect([...net.modules()].every((m) => !m.training)).toBe(true);
    net.train();
    expect(net.down_blocks.at(1).resnets.at(0).training).toBe(true);
    const order: string[] = [];
    net.apply((m, name) => {
      order.push(name);
      if (m instanceof Linear) init.zeros_(m.weight);
    });
    expect(order.at(-1)).toBe('');
    expect(order.indexOf('down_blocks.0.resnets.0.conv1')).toBeLessThan(order.indexOf('down_blocks.0.resnets.0'));
    expect(Array.from(net.proj.weight.toArray())).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('init functions fill in place with torch\'s bounds, seeded, releasing the old values', () => {
    const disposed: unknown[] = [];
    let copies = 0;
    const backend = new (class extends ReferenceBackend {
      override dispose(st: Parameters<ReferenceBackend['dispose']>[0]) {
        disposed.push(st);
      }
      override copy(view: Parameters<ReferenceBackend['copy']>[0]) {
        copies++;
        return super.copy(view);
      }
    })();
    const w = new Linear(32, 64, { backend, seed: 0 }).weight; // [64, 32]: fanIn 32, fanOut 64
    const stats = () => {
      const v = Array.from(w.toArray());
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      return { min: Math.min(...v), max: Math.max(...v), mean, std: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length) };
    };
    const before = w.storage;
    expect(init.uniform_(w, -2, 3, { seed: 1 })).toBe(w);
    expect(disposed).toEqual([before]);
    const u = stats();
    expect(u.min).toBeGreaterThanOrEqual(-2);
    expect(u.max).toBeLessThan(3);
    expect(u.mean).toBeCloseTo(0.5, 1);
    const kaiming = Math.SQRT2 * Math.sqrt(3 / 32); // leaky_relu with a = 0
    init.kaimingUniform_(w, { seed: 2 });
    expect(stats().max).toBeLessThanOrEqual(kaiming);
    expect(stats().max).toBeGreaterThan(0.95 * kaiming);
    init.xavierUniform_(w, 1, { seed: 3 });
    expect(Math.max(-stats().min, stats().max)).toBeLessThanOrEqual(Math.sqrt(6 / 96));
    init.normal_(w, 1, 0.5, { seed: 4 });
    expect(stats().mean).toBeCloseTo(1, 1);
    expect(stats().std).toBeCloseTo(0.5, 1);
    const again = Array.from(w.toArray());
    init.normal_(w, 1, 0.5, { seed: 4 });
    expect(Array.from(w.toArray())).toEqual(again);
    init.constant_(w, 7);
    expect(new Set(w.toArray())).toEqual(new Set([7]));
    expect(disposed.length).toBe(6);
    expect(copies).toBe(0); // the freshly drawn values are adopted, not copied (and so never left allocated)
  });

  it('moves parameters to another backend keeping the objects', () => {
    const other = new ReferenceBackend();
    const net = new Net(3);
    const values = net.proj.weight.toArray();
    const w = net.proj.weight;
    net.to(other);
    expect(w.backend).toBe(other);
    expect(Array.from(w.toArray())).toEqual(Array.from(values));
  });
});

describe('layers', () => {
  it('Linear: PyTorch bounds, y = x W^T + b, gradients reach the parameters', () => {
    const lin = new Linear(16, 3, { seed: 7 });
    const w = lin.weight.toArray();
    const bound = 1 / 4;
    expect(Math.max(...Array.from(w, Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...Array.from(w, Math.abs))).toBeGreaterThan(bound * 0.7);
    const x = randn([2, 16], { seed: 1 });
    const y = lin.forward(x).toArray();
    const xs = x.toArray();
    const b = lin.bias!.toArray();
    for (let n = 0; n < 2; n++) for (let o = 0; o < 3; o++) {
      let s = b[o]!;
      for (let i = 0; i < 16; i++) s += xs[n * 16 + i]! * w[o * 16 + i]!;
      expect(y[n * 3 + o]).toBeCloseTo(s, 5);
    }
    mseLoss(lin.forward(x), randn([2, 3], { seed: 2 })).backward();
    expect(lin.weight.grad?.shape).toEqual([3, 16]);
    expect(lin.bias!.grad?.shape).toEqual([3]);
    expect(() => lin.forward(randn([2, 15]))).toThrow(/Linear\(16, 3\): input's last axis must be 16, got \[2, 15\]/);
  });

  it('Conv2d: shapes, bound 1/sqrt(fan_in), forward equals the conv2d op', () => {
    const conv = new Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2, seed: 3 });
    expect(conv.weight.shape).toEqual([6, 2, 3, 3]);
    const bound = 1 / Math.sqrt(2 * 9);
    expect(Math.max(...Array.from(conv.weight.toArray(), Math.abs))).toBeLessThanOrEqual(bound);
    const x = randn([1, 4, 5, 5], { seed: 4 });
    const y = conv.forward(x);
    expect(y.shape).toEqual([1, 6, 3, 3]);
    expect(Array.from(y.toArray())).toEqual(Array.from(conv2d(x, conv.weight, conv.bias, { stride: 2, padding: 1, groups: 2 }).toArray()));
  });

  it('GroupNorm/LayerNorm start as weight 1, bias 0 and standardise', () => {
    const gn = new GroupNorm(2, 4);
    expect(Array.from(gn.weight!.toArray())).toEqual([1, 1, 1, 1]);
    const y = gn.forward(randn([2, 4, 3, 3], { seed: 9, mean: 5, std: 3 }));
    const first = y.slice(0, 0, 1).slice(1, 0, 2).toArray();
    const mean = first.reduce((a, b) => a + b, 0) / first.length;
    expect(mean).toBeCloseTo(0, 5);
  });

  it('Sequential chains, Dropout is the identity in eval and seeded in train', () => {
    const seq = new Sequential(new Linear(3, 5, { seed: 1 }), new SiLU(), new Dropout(0.5, { seed: 3 }), new GELU(), new Linear(5, 2, { seed: 2 }));
    expect([...seq.stateDict().keys()]).toEqual(['0.weight', '0.bias', '4.weight', '4.bias']);
    const x = randn([4, 3], { seed: 5 });
    seq.eval();
    const a = seq.forward(x).toArray();
    const expected = seq.at(4).forward(seq.at(1).forward(seq.at(0).forward(x)).gelu()).toArray();
    expect(Array.from(a)).toEqual(Array.from(expected));
    seq.train();
    const d = new Dropout(0.5, { seed: 11 });
    const dropped = d.forward(tensor(new Float32Array(1000).fill(1))).toArray();
    const kept = dropped.filter((v) => v !== 0);
    expect(kept.every((v) => v === 2)).toBe(true);
    expect(kept.length).toBeGreaterThan(400);
    expect(kept.length).toBeLessThan(600);
  });
});

describe('replacing submodules (how adapters wrap layers)', () => {
  /** A LoRA-like wrapper: base(x) + extra(x), extra starting at zero. */
  class Wrapped extends Module {
    base: Linear;
    extra: Linear;
    constructor(base: Linear) {
      super();
      this.base = this.registerModule('base', base);
      this.extra = this.registerModule('extra', new Linear(base.inFeatures, base.outFeatures, { bias: false, seed: 9 }));
      init.zeros_(this.extra.weight);
    }
    forward(x: Tensor): Tensor {
      return this.base.forward(x).add(this.extra.forward(x));
    }
  }

  it('setSubmodule swaps fields, list items and state-dict names', () => {
    const net = new Net();
    const found = net.findModules('down_blocks.*.conv1', Conv2d);
    expect(found.map(([n]) => n)).toEqual([
      'down_blocks.0.resnets.0.conv1', 'down_blocks.0.resnets.1.conv1', 'down_blocks.1.resnets.0.conv1', 'down_blocks.1.resnets.1.conv1',
    ]);
    const x = randn([1, 4], { seed: 1 });
    const before = net.proj.forward(x).toArray();
    const old = net.setSubmodule('proj', new Wrapped(net.proj) as unknown as Linear);
    expect(old).toBeInstanceOf(Linear);
    expect(net.proj).toBeInstanceOf(Wrapped);
    expect([...net.stateDict().keys()]).toContain('proj.base.weight');
    expect(Array.from((net.proj as unknown as Wrapped).forward(x).toArray())).toEqual(Array.from(before));
    const block = new Resnet(4, 1);
    net.setSubmodule('down_blocks.1.resnets.0', block);
    expect(net.down_blocks.at(1).resnets.at(0)).toBe(block);
    expect(() => net.setSubmodule('down_blocks.1.nope', block)).toThrow(/no submodule 'nope' under 'down_blocks.1'|no submodule 'down_blocks.1.nope'/);
    const seq = new Sequential(new Linear(2, 2, { seed: 1 }), new SiLU());
    const relu = new GELU();
    seq.setSubmodule('1', relu);
    expect(seq.at(1)).toBe(relu);
  });
});

describe('buffers', () => {
  it('persistent buffers are saved and loaded, non-persistent ones are not; neither is a parameter', () => {
    class WithBuffers extends Module {
      table = this.registerBuffer('table', tensor([1, 2, 3]));
      scratch = this.registerBuffer('scratch', tensor([0]), false);
      w = this.registerParameter('w', tensor([5]));
    }
    const m = new WithBuffers();
    expect([...m.stateDict().keys()]).toEqual(['w', 'table']);
    expect(m.parameters()).toEqual([m.w]);
    expect(m.w.requiresGrad).toBe(true);
    expect(m.table.requiresGrad).toBe(false);
    m.loadStateDict(new Map([['w', tensor([6])], ['table', tensor([7, 8, 9])]]));
    expect(Array.from(m.table.toArray())).toEqual([7, 8, 9]);
    expect(() => m.registerParameter('table', tensor([1]))).toThrow(/'table' is already registered as another kind of member/);
    expect(() => m.registerModule('a.b', new Module())).toThrow(/without dots/);
  });

  it('a view registered as a parameter or buffer gets its own dense copy (an offset slice, a broadcast)', () => {
    const base = tensor([[1, 2], [3, 4], [5, 6]]);
    const m = new Module();
    const own = tensor([7, 8]);
    const p = m.registerParameter('p', base.slice(0, 1, 2)); // contiguous, but at offset 2 of base's storage
    const b = m.registerBuffer('b', tensor([9]).expand([3]));
    expect(m.registerParameter('q', own)).toBe(own); // a dense leaf is kept as is
    expect(p.storage).not.toBe(base.storage);
    expect([p.offset, p.storage.size, b.storage.size]).toEqual([0, 2, 3]);
    expect(p.tolist()).toEqual([[3, 4]]);
    expect(b.tolist()).toEqual([9, 9, 9]);
    new SGD(m.parameters(), { lr: 1 }).step(); // an optimiser accepts it (it refused views)
  });
});
