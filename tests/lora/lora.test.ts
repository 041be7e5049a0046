import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { loadSafetensors, parseSafetensorsHeader } from '../../core/io/safetensors.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  Conv2d, GELU, Linear, Module, MultiheadAttention, ReferenceBackend, Sequential, type Tensor,
  assertGradcheck, copyInto, init, mseLoss, randn, tensor,
} from '../../core/index.ts';
import { LoraModel, type LoraPair, loraHostOf } from '../../plugins/lora/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'lora-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** attn (to_q/to_k/to_v/to_out.0) + ff (Sequential of Linear, GELU, Linear) + a conv. */
class Block extends Module {
  readonly attn1: MultiheadAttention;
  readonly ff: Sequential;
  readonly conv: Conv2d;
  constructor(seed = 1, backend?: ReferenceBackend) {
    super();
    this.attn1 = this.registerModule('attn1', new MultiheadAttention(4, 2, { seed, backend }));
    this.ff = this.registerModule('ff', new Sequential(new Linear(4, 6, { seed: seed + 1, backend }), new GELU(), new Linear(6, 4, { seed: seed + 2, backend })));
    this.conv = this.registerModule('conv', new Conv2d(2, 3, 3, { padding: 1, seed: seed + 3, backend }));
  }
  forward(x: Tensor): Tensor {
    return this.ff.forward(this.attn1.forward(x));
  }
}

/** Gives an adapter's up weights random values (a fresh adapter has up = 0 and changes nothing). */
function randomiseUp(lora: LoraModel, name: string, seed: number): void {
  lora.namedAdapterParameters(name).forEach(([n, p], i) => {
    if (n.endsWith('.up.weight')) init.normal_(p, 0, 0.5, { seed: seed + i });
  });
}

const close = (a: Tensor, b: Tensor, tol: number) => {
  const x = a.toArray();
  const y = b.toArray();
  expect(x.length).toBe(y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  expect(worst).toBeLessThanOrEqual(tol);
};

describe('LoRA injection', () => {
  it('wraps layers by PEFT target patterns, keeps base keys, names the branch <path>.lora.<adapter>', () => {
    const net = new Block();
    const baseKeys = [...net.stateDict().keys()];
    const lora = new LoraModel(net);
    expect(lora.addAdapter('a', { rank: 2, targetModules: ['to_q', 'to_v'] })).toEqual(['attn1.to_q', 'attn1.to_v']);
    expect(lora.addAdapter('b', { rank: 3, targetModules: [/^ff\.\d$/] })).toEqual(['ff.0', 'ff.2']);
    expect(lora.addAdapter('c', { rank: 2, targetModules: 'all' })).toEqual(['attn1.to_q', 'attn1.to_k', 'attn1.to_v', 'attn1.to_out.0', 'ff.0', 'ff.2']);
    expect(lora.addAdapter('d', { rank: 1, targetModules: ['attn1.*'], excludeModules: ['to_k'], layerTypes: ['linear', 'conv2d'] })).toEqual(['attn1.to_q', 'attn1.to_v', 'attn1.to_out.0']);
    expect(lora.addAdapter('e', { rank: 1, targetModules: ['conv'], layerTypes: ['conv2d'] })).toEqual(['conv']);
    const keys = [...net.stateDict().keys()];
    for (const k of baseKeys) expect(keys).toContain(k);
    expect(keys).toContain('attn1.to_q.lora.a.down.weight');
    expect(keys).toContain('ff.2.lora.b.up.weight');
    expect(net.stateDict().get('attn1.to_q.lora.a.down.weight')!.shape).toEqual([2, 4]);
    expect(net.stateDict().get('ff.0.lora.b.up.weight')!.shape).toEqual([6, 3]);
    expect(net.stateDict().get('conv.lora.e.down.weight')!.shape).toEqual([1, 2, 3, 3]);
    expect(net.stateDict().get('conv.lora.e.up.weight')!.shape).toEqual([3, 1, 1, 1]);
    expect(() => lora.addAdapter('f', { rank: 2, targetModules: ['nothing_here'] })).toThrow(/matched no linear layer/);
    expect(() => new LoraModel(new Linear(2, 2)).addAdapter('f', { rank: 1, targetModules: 'all' })).toThrow(/wrap it in a container/);
    expect(() => lora.addAdapter('a', { rank: 2, targetModules: 'all' })).toThrow(/already exists/);
    expect(() => lora.addAdapter('g', { rank: 0, targetModules: 'all' })).toThrow(/rank must be an integer >= 1/);
    lora.deleteAdapter('a');
    expect([...net.stateDict().keys()].some((k) => k.includes('.lora.a.'))).toBe(false);
    expect(lora.adapterNames()).toEqual(['b', 'c', 'd', 'e']);
  });

  it('starts as the identity (up = 0), draws down ~ N(0, 1/rank) from its seed, deterministically', () => {
    const net = new Block();
    const x = randn([2, 3, 4], { seed: 9 });
    const before = net.forward(x).toArray();
    const lora = new LoraModel(net);
    lora.addAdapter('a', { rank: 4, targetModules: 'all', seed: 5 });
    expect(Array.from(net.forward(x).toArray())).toEqual(Array.from(before));
    const downs = lora.namedAdapterParameters('a').filter(([n]) => n.endsWith('down.weight')).flatMap(([, p]) => Array.from(p.toArray()));
    const ups = lora.namedAdapterParameters('a').filter(([n]) => n.endsWith('up.weight')).flatMap(([, p]) => Array.from(p.toArray()));
    expect(ups.every((v) => v === 0)).toBe(true);
    const mean = downs.reduce((s, v) => s + v, 0) / downs.length;
    const std = Math.sqrt(downs.reduce((s, v) => s + (v - mean) ** 2, 0) / downs.length);
    expect(downs.length).toBe(4 * 16 + 4 * 4 + 4 * 6); // q,k,v,out: [4, 4] each; ff.0: [4, 4]; ff.2: [4, 6]
    expect(std).toBeGreaterThan(0.25 * 0.75);
    expect(std).toBeLessThan(0.25 * 1.25);
    const again = new LoraModel(new Block());
    again.addAdapter('a', { rank: 4, targetModules: 'all', seed: 5 });
    expect(again.namedAdapterParameters('a').map(([, p]) => Array.from(p.toArray()))).toEqual(lora.namedAdapterParameters('a').map(([, p]) => Array.from(p.toArray())));
  });

  it('forward = W x + b + (alpha/rank) * weight * up(down(x)), checked by hand; adapters sum with their weights', () => {
    const lin = new Linear(3, 2, { seed: 3 });
    const holder = new Sequential(lin);
    const lora = new LoraModel(holder);
    lora.addAdapter('a', { rank: 2, alpha: 8, targetModules: 'all', seed: 1 });
    lora.addAdapter('b', { rank: 1, targetModules: 'all', seed: 2 });
    randomiseUp(lora, 'a', 10);
    randomiseUp(lora, 'b', 20);
    const x = tensor([[0.5, -1, 2], [1.5, 0.25, -0.75]]);
    const W = lin.weight.toArray();
    const b = lin.bias!.toArray();
    const pa = loraHostOf(lin)!.pair('a')!;
    const pb = loraHostOf(lin)!.pair('b')!;
    const lowRank = (p: LoraPair, r: number, row: number, o: number) => {
      const d = p.down.weight.toArray();
      const u = p.up.weight.toArray();
      let s = 0;
      for (let k = 0; k < r; k++) {
        let h = 0;
        for (let i = 0; i < 3; i++) h += d[k * 3 + i]! * x.toArray()[row * 3 + i]!;
        s += u[o * r + k]! * h;
      }
      return s;
    };
    const expected = (wa: number, wb: number) => {
      const out: number[] = [];
      for (let row = 0; row < 2; row++) for (let o = 0; o < 2; o++) {
        let s = b[o]!;
        for (let i = 0; i < 3; i++) s += W[o * 3 + i]! * x.toArray()[row * 3 + i]!;
        out.push(s + wa * (8 / 2) * lowRank(pa, 2, row, o) + wb * 1 * lowRank(pb, 1, row, o));
      }
      return out;
    };
    // addAdapter activates the new adapter alone
    expect(lora.activeAdapters()).toEqual({ b: 1 });
    Array.from(holder.forward(x).toArray()).forEach((v, i) => expect(v).toBeCloseTo(expected(0, 1)[i]!, 5));
    lora.setActiveAdapters({ a: 0.5, b: -2 });
    Array.from(holder.forward(x).toArray()).forEach((v, i) => expect(v).toBeCloseTo(expected(0.5, -2)[i]!, 5));
    lora.setAdapterWeight('b', 0);
    Array.from(holder.forward(x).toArray()).forEach((v, i) => expect(v).toBeCloseTo(expected(0.5, 0)[i]!, 5));
    expect(() => lora.setActiveAdapters(['zzz'])).toThrow(/no adapter named 'zzz'/);
  });

  it('trains only the LoRA parameters when the base is frozen', () => {
    const net = new Block();
    const lora = new LoraModel(net);
    lora.addAdapter('a', { rank: 2, targetModules: 'all' });
    randomiseUp(lora, 'a', 3);
    net.freeze();
    lora.unfreezeAdapter('a');
    mseLoss(net.forward(randn([1, 3, 4], { seed: 1 })), randn([1, 3, 4], { seed: 2 })).backward();
    for (const [n, p] of net.namedParameters()) {
      if (n.includes('.lora.a.')) expect(p.grad, n).not.toBeNull();
      else expect(p.grad ?? null, n).toBeNull();
    }
  });
});

describe('switching ctrLoRA conditions', () => {
  it('per-condition snapshots (LoRA + own zero conv) swap in and out exactly', () => {
    const net = new Block(5);
    const lora = new LoraModel(net);
    const x = randn([1, 3, 4], { seed: 8 });
    const img = randn([1, 2, 4, 4], { seed: 9 });
    const run = () => [...Array.from(net.forward(x).toArray()), ...Array.from(net.conv.forward(img).toArray())];
    const snapshots = new Map<string, Map<string, Tensor>>();
    const outputs = new Map<string, number[]>();
    for (const [name, seed] of [['lighting', 1], ['seg', 2]] as const) {
      lora.addAdapter(name, { rank: 2, targetModules: 'all', seed });
      randomiseUp(lora, name, seed * 100);
      init.normal_(net.conv.bias!, 0, 1, { seed: seed * 7 }); // this condition's "zero conv"
      outputs.set(name, run());
      snapshots.set(name, lora.adapterStateDict(name, { include: ['conv.weight', 'conv.bias'], copy: true }));
    }
    for (const name of ['lighting', 'seg', 'lighting']) {
      lora.setActiveAdapters([name]);
      lora.loadAdapterStateDict(name, snapshots.get(name)!);
      expect(run()).toEqual(outputs.get(name));
    }
    // without copy the dict is live: it follows the model
    const live = lora.adapterStateDict('seg', { include: ['conv.bias'] });
    lora.loadAdapterStateDict('lighting', snapshots.get('lighting')!);
    expect(Array.from(live.get('conv.bias')!.toArray())).toEqual(Array.from(net.conv.bias!.toArray()));
  });
});

describe('LoRA training', () => {
  it('SGD on the adapter lowers the loss and leaves every frozen weight bit-identical', () => {
    const net = new Block(3);
    const lora = new LoraModel(net);
    lora.addAdapter('a', { rank: 2, targetModules: 'all', seed: 4 });
    net.freeze();
    const params = lora.unfreezeAdapter('a');
    const frozen = new Map([...net.namedParameters()].filter(([n]) => !n.includes('.lora.')).map(([n, p]) => [n, Array.from(p.toArray())]));
    const x = randn([2, 3, 4], { seed: 1 });
    const target = net.forward(x).add(randn([1, 1, 4], { seed: 2 }).mul(0.5)).detach();
    const losses: number[] = [];
    for (let step = 0; step < 40; step++) {
      net.zeroGrad();
      const loss = mseLoss(net.forward(x), target);
      loss.backward();
      losses.push(loss.item());
      for (const p of params) copyInto(p, p.sub(p.grad!.mul(0.5)).detach());
    }
    expect(losses.at(-1)!).toBeLessThan(losses[0]! / 10);
    for (const [n, p] of net.namedParameters()) if (frozen.has(n)) expect(Array.from(p.toArray()), n).toEqual(frozen.get(n));
  });
});

describe('LoRA gradients (float64 finite differences)', () => {
  const f64 = new ReferenceBackend({ precision: 'float64' });

  it('Linear with two active adapters: d/dx, d/down, d/up', () => {
    const lin = new Linear(3, 4, { seed: 1, backend: f64 });
    const lora = new LoraModel(new Sequential(lin));
    lora.addAdapter('a', { rank: 2, alpha: 3, targetModules: 'all', seed: 2 });
    lora.addAdapter('b', { rank: 1, targetModules: 'all', seed: 3 });
    lora.setActiveAdapters({ a: 0.7, b: 1.3 });
    const pa = loraHostOf(lin)!.pair('a')!;
    const pb = loraHostOf(lin)!.pair('b')!;
    const set = (p: LoraPair, down: Tensor, up: Tensor) => {
      (p.down as { weight: Tensor }).weight = down;
      (p.up as { weight: Tensor }).weight = up;
    };
    const x = randn([2, 3], { seed: 4, backend: f64 });
    const args = [x, randn([2, 3], { seed: 5, backend: f64 }), randn([4, 2], { seed: 6, backend: f64 }), randn([1, 3], { seed: 7, backend: f64 }), randn([4, 1], { seed: 8, backend: f64 })];
    assertGradcheck((xx, da, ua, db, ub) => {
      set(pa, da!, ua!);
      set(pb, db!, ub!);
      return lin.forward(xx!);
    }, args);
  });

  it('Conv2d adapter: d/x, d/down, d/up', () => {
    const conv = new Conv2d(2, 3, 3, { padding: 1, stride: 2, seed: 1, backend: f64 });
    const lora = new LoraModel(new Sequential(conv));
    lora.addAdapter('a', { rank: 2, targetModules: 'all', layerTypes: ['conv2d'], alpha: 1 });
    const p = loraHostOf(conv)!.pair('a')!;
    const args = [randn([1, 2, 5, 5], { seed: 2, backend: f64 }), randn([2, 2, 3, 3], { seed: 3, backend: f64 }), randn([3, 2, 1, 1], { seed: 4, backend: f64 })];
    assertGradcheck((xx, d, u) => {
      (p.down as { weight: Tensor }).weight = d!;
      (p.up as { weight: Tensor }).weight = u!;
      return conv.forward(xx!);
    }, args);
  });
});

describe('merge / unmerge', () => {
  it('merged forward equals the unmerged one; unmerge restores the base weights (Linear and Conv2d)', () => {
    const net = new Block(4);
    const lora = new LoraModel(net);
    lora.addAdapter('a', { rank: 2, alpha: 4, targetModules: 'all', layerTypes: ['linear', 'conv2d'], seed: 1 });
    lora.addAdapter('b', { rank: 3, targetModules: ['to_q', 'ff.0', 'conv'], layerTypes: ['linear', 'conv2d'], seed: 2 });
    randomiseUp(lora, 'a', 30);
    randomiseUp(lora, 'b', 40);
    lora.setActiveAdapters({ a: 1, b: 0.5 });
    const x = randn([2, 3, 4], { seed: 1 });
    const img = randn([1, 2, 5, 5], { seed: 2 });
    const baseW = net.attn1.to_q.weight.toArray().slice();
    const baseConv = net.conv.weight.toArray().slice();
    const unmerged = net.forward(x);
    const unmergedConv = net.conv.forward(img);
    lora.merge();
    expect(lora.isMerged).toBe(true);
    // the weights really changed, and the branch no longer runs: zeroing up changes nothing now
    expect(Math.max(...Array.from(net.attn1.to_q.weight.toArray(), (v, i) => Math.abs(v - baseW[i]!)))).toBeGreaterThan(1e-3);
    for (const [n, p] of lora.namedAdapterParameters()) if (n.endsWith('up.weight')) init.zeros_(p);
    close(net.forward(x), unmerged, 1e-5);
    close(net.conv.forward(img), unmergedConv, 1e-5);
    expect(() => lora.setActiveAdapters(['a'])).toThrow(/unmerge\(\) first/);
    expect(() => lora.merge()).toThrow(/already merged/);
    randomiseUp(lora, 'a', 30);
    randomiseUp(lora, 'b', 40);
    lora.unmerge();
    close(net.attn1.to_q.weight, tensor(baseW, [4, 4]), 1e-6);
    close(net.conv.weight, tensor(baseConv, [3, 2, 3, 3]), 1e-6);
    close(net.forward(x), unmerged, 1e-5);
  });
});

describe('adapter-only state dicts and files', () => {
  it('names keys the CtrLoRA and PEFT ways, with a prefix', () => {
    const lora = new LoraModel(new Block());
    lora.addAdapter('cond', { rank: 2, targetModules: ['to_q'] });
    expect([...lora.adapterStateDict('cond', { naming: 'ctrlora', prefix: 'control_model.' }).keys()]).toEqual([
      'control_model.attn1.to_q.lora_layer.down.weight', 'control_model.attn1.to_q.lora_layer.up.weight',
    ]);
    expect([...lora.adapterStateDict('cond', { naming: 'peft', prefix: 'base_model.model.' }).keys()]).toEqual([
      'base_model.model.attn1.to_q.lora_A.weight', 'base_model.model.attn1.to_q.lora_B.weight',
    ]);
    expect([...lora.adapterStateDict('cond', { include: ['conv.weight'] }).keys()]).toEqual([
      'attn1.to_q.lora.cond.down.weight', 'attn1.to_q.lora.cond.up.weight', 'conv.weight',
    ]);
    expect([...lora.adapterStateDict('cond', { naming: 'ctrlora', include: 'ff.*.bias' }).keys()]).toEqual([
      'attn1.to_q.lora_layer.down.weight', 'attn1.to_q.lora_layer.up.weight', 'ff.0.bias', 'ff.2.bias',
    ]);
  });

  it('round-trips through safetensors into a fresh model (creating the adapter from metadata), with included params', async () => {
    const src = new Block(7);
    const lora = new LoraModel(src);
    lora.addAdapter('lighting', { rank: 3, alpha: 6, targetModules: ['to_k', 'to_out.0', 'ff.2'], seed: 11 });
    randomiseUp(lora, 'lighting', 50);
    init.normal_(src.conv.bias!, 0, 1, { seed: 77 }); // stands in for a trained zero conv
    const file = join(dir, 'lighting.safetensors');
    await lora.saveAdapter(file, 'lighting', { naming: 'ctrlora', prefix: 'control_model.', include: ['conv.bias'] });

    const dst = new Block(7);
    const x = randn([1, 3, 4], { seed: 3 });
    expect(Math.max(...Array.from(dst.forward(x).sub(src.forward(x)).abs().toArray()))).toBeGreaterThan(1e-3);
    const dstLora = new LoraModel(dst);
    expect(await dstLora.loadAdapter(file)).toBe('lighting');
    expect(dstLora.targets('lighting')).toEqual(['attn1.to_k', 'attn1.to_out.0', 'ff.2']);
    expect(dstLora.config('lighting').scale).toBe(2);
    expect(Array.from(dst.forward(x).toArray())).toEqual(Array.from(src.forward(x).toArray()));
    expect(Array.from(dst.conv.bias!.toArray())).toEqual(Array.from(src.conv.bias!.toArray()));

    // loading into an existing adapter of the wrong rank is refused, nothing copied
    const other = new LoraModel(new Block(7));
    other.addAdapter('lighting', { rank: 2, targetModules: ['to_k', 'to_out.0', 'ff.2'] });
    await expect(other.loadAdapter(file)).rejects.toThrow(/wrong shapes/);
    // a key map (like diffusers -> LDM names) applied on save is applied to the expected keys on load
    const ldm = (k: string) => k.replace(/^control_model\.attn1\./, 'control_model.input_blocks.1.1.attn1.');
    const mapped = join(dir, 'mapped.safetensors');
    await lora.saveAdapter(mapped, 'lighting', { naming: 'ctrlora', prefix: 'control_model.', include: ['conv.bias'], renameKey: ldm });
    expect([...lora.adapterStateDict('lighting', { naming: 'ctrlora', prefix: 'control_model.', renameKey: ldm }).keys()][0]).toBe('control_model.input_blocks.1.1.attn1.to_k.lora_layer.down.weight');
    const third = new Block(7);
    await expect(new LoraModel(third).loadAdapter(mapped)).rejects.toThrow(/unexpected \(4\): control_model\.input_blocks\.1\.1\.attn1\.to_k\.lora_layer\.down\.weight/);
    expect([...third.stateDict().keys()].some((k) => k.includes('.lora.'))).toBe(false); // the failed load left nothing behind
    const thirdLora = new LoraModel(third);
    await thirdLora.loadAdapter(mapped, undefined, { renameKey: ldm });
    expect(Array.from(third.forward(x).toArray())).toEqual(Array.from(src.forward(x).toArray()));
    // strict: a dict missing a key is refused
    const partial = lora.adapterStateDict('lighting');
    partial.delete('ff.2.lora.lighting.up.weight');
    expect(() => dstLora.loadAdapterStateDict('lighting', partial)).toThrow(/missing \(1\): ff\.2\.lora\.lighting\.up\.weight/);
    // dtype F16: half the bytes, and the values come back rounded to half precision
    const half = join(dir, 'half.safetensors');
    await lora.saveAdapter(half, 'lighting', { include: ['conv.bias'], dtype: 'F16' });
    const { tensors } = await loadSafetensors(half);
    const header = parseSafetensorsHeader(new Uint8Array(await readFile(half)));
    expect(new Set([...header.tensors.values()].map((e) => e.dtype))).toEqual(new Set(['F16']));
    const up = lora.adapterStateDict('lighting').get('ff.2.lora.lighting.up.weight')!;
    const back = tensors.get('ff.2.lora.lighting.up.weight')!;
    Array.from(up.toArray()).forEach((v, i) => expect(back.toArray()[i]).toBeCloseTo(v, 2));
  });
});
