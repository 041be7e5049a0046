/**
 * The LoRA branch of one wrapped layer. A wrapped Linear or Conv2d keeps its own `weight` and
 * `bias` (so base checkpoints still load key for key) and gains a child `lora` (a LoraHost)
 * holding one `down`/`up` pair per named adapter: `attn1.to_q.lora.<adapter>.down.weight`.
 *
 * Why in place rather than a wrapper module swapped into the parent: parents call their
 * layers through fields (`this.to_q.forward(x)`, `this.to_out.at(0)`), not through the
 * module registry, so a swapped registry entry would never run. The layer's own `forward` is
 * shadowed on the instance instead; `detachLora` removes the shadow and the branch.
 */
import { noGrad } from '../../core/autograd.ts';
import { ArgumentError } from '../../core/errors.ts';
import { Module } from '../../core/nn/module.ts';
import * as init from '../../core/nn/init.ts';
import { Conv2d } from '../../core/nn/layers/conv2d.ts';
import { Linear } from '../../core/nn/layers/linear.ts';
import { Dropout } from '../../core/nn/layers/activation.ts';
import { replaceStorage } from '../../core/nn/parameter.ts';
import type { Generator } from '../../core/random.ts';
import type { Tensor } from '../../core/tensor.ts';
import type { ResolvedLoraConfig } from './config.ts';

/** The child name a wrapped layer's LoRA branch is registered under. */
export const LORA_HOST_NAME = 'lora';

/** One adapter's low-rank pair on one layer: update = up(down(dropout(x))). */
export class LoraPair extends Module {
  readonly down: Linear | Conv2d;
  readonly up: Linear | Conv2d;
  readonly dropout: Dropout | null;

  constructor(base: Linear | Conv2d, readonly config: ResolvedLoraConfig, generator: Generator) {
    super();
    const r = config.rank;
    // The layers' own default init is overwritten below; a fixed seed keeps the global stream untouched.
    if (base instanceof Linear) {
      this.down = new Linear(base.inFeatures, r, { bias: false, seed: 0, backend: base.weight.backend });
      this.up = new Linear(r, base.outFeatures, { bias: false, seed: 0, backend: base.weight.backend });
    } else {
      if (base.groups !== 1) throw new ArgumentError(`LoRA: grouped Conv2d (groups ${base.groups}) cannot be wrapped`);
      this.down = new Conv2d(base.inChannels, r, base.kernelSize, { stride: base.stride, padding: base.padding, dilation: base.dilation, bias: false, seed: 0, backend: base.weight.backend });
      this.up = new Conv2d(r, base.outChannels, 1, { bias: false, seed: 0, backend: base.weight.backend });
    }
    this.registerModule('down', this.down);
    this.registerModule('up', this.up);
    if (config.init === 'normal') init.normal_(this.down.weight, 0, 1 / r, { generator });
    else init.kaimingUniform_(this.down.weight, { a: Math.sqrt(5), generator });
    init.zeros_(this.up.weight);
    this.dropout = config.dropout > 0 ? this.registerModule('dropout', new Dropout(config.dropout, { generator })) : null;
  }

  /** up(down(x)), without scale. */
  forward(x: Tensor): Tensor {
    const h = this.dropout ? this.dropout.forward(x) : x;
    return this.up.forward(this.down.forward(h));
  }

  /** up · down as a weight of the base layer's shape (what merging adds, times the factor). */
  deltaWeight(): Tensor {
    const up = this.up.weight;
    const down = this.down.weight;
    const r = this.config.rank;
    const outDim = up.shape[0]!;
    const product = up.reshape([outDim, r]).matmul(down.reshape([r, down.size / r]));
    return product.reshape([outDim, ...down.shape.slice(1)]);
  }
}

/** All adapters of one wrapped layer, their run-time weights, and what is merged into the base. */
export class LoraHost extends Module {
  private readonly pairs = new Map<string, LoraPair>();
  /** Adapters that run (name -> weight); set by LoraModel. */
  readonly active = new Map<string, number>();
  /** Adapters folded into the base weight (name -> factor folded = scale * weight). */
  readonly merged = new Map<string, number>();

  constructor(readonly base: Linear | Conv2d, private readonly baseForward: (x: Tensor) => Tensor) {
    super();
  }

  get kind(): 'linear' | 'conv2d' {
    return this.base instanceof Linear ? 'linear' : 'conv2d';
  }
  adapterNames(): string[] {
    return [...this.pairs.keys()];
  }
  pair(name: string): LoraPair | undefined {
    return this.pairs.get(name);
  }
  addPair(name: string, pair: LoraPair): void {
    if (this.pairs.has(name)) throw new ArgumentError(`LoRA: layer already has an adapter named '${name}' (added through another LoraModel on the same model?)`);
    this.registerModule(name, pair);
    this.pairs.set(name, pair);
  }
  removePair(name: string): void {
    this.registerModule(name, null);
    this.pairs.delete(name);
    this.active.delete(name);
  }

  /** base(x) + sum over active, unmerged adapters of scale * weight * up(down(x)). */
  forward(x: Tensor): Tensor {
    let y = this.baseForward(x);
    for (const [name, weight] of this.active) {
      if (this.merged.has(name) || weight === 0) continue;
      const pair = this.pairs.get(name)!;
      const factor = pair.config.scale * weight;
      // A factor of 1 (alpha = rank, weight 1: CtrLoRA's update) costs no multiply either way.
      const update = pair.forward(x);
      y = y.add(factor === 1 ? update : update.mul(factor));
    }
    return y;
  }

  /** Adds factor * up·down to the base weight in place (no gradient recorded). */
  foldIntoBase(name: string, factor: number): void {
    const pair = this.pairs.get(name)!;
    // The sum is a fresh dense tensor: the weight takes its storage over instead of copying it.
    noGrad(() => replaceStorage(this.base.weight, this.base.weight.add(pair.deltaWeight().mul(factor)).storage));
  }
}

const hosts = new WeakMap<Module, LoraHost>();

/** The LoRA branch of a layer, if it has one. */
export function loraHostOf(layer: Module): LoraHost | undefined {
  return hosts.get(layer);
}

/** Gives a Linear or Conv2d a LoRA branch (once) and routes its forward through it. */
export function attachLora(layer: Linear | Conv2d): LoraHost {
  const existing = hosts.get(layer);
  if (existing) return existing;
  const baseForward = layer.forward.bind(layer);
  const host = new LoraHost(layer, baseForward);
  layer.registerModule(LORA_HOST_NAME, host);
  (layer as { forward: (x: Tensor) => Tensor }).forward = (x: Tensor) => host.forward(x);
  hosts.set(layer, host);
  return host;
}

/** Removes a layer's LoRA branch (unmerged adapters simply vanish; merged ones stay folded in). */
export function detachLora(layer: Linear | Conv2d): void {
  if (!hosts.has(layer)) return;
  layer.registerModule(LORA_HOST_NAME, null);
  delete (layer as { forward?: unknown }).forward;
  hosts.delete(layer);
}
