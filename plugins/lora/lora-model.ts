/**
 * LoraModel: PEFT's LoRA injection over any Module tree. Adapters are added by name, matched
 * to layers by target patterns; several can live on one model, run together with per-adapter
 * weights, be merged into the base weights (and unmerged), and be saved alone.
 *
 *   const lora = new LoraModel(controlnet);
 *   lora.addAdapter('lighting', { rank: 128, targetModules: 'all' });   // every Linear, CtrLoRA-style
 *   controlnet.freeze(); lora.unfreezeAdapter('lighting');
 *   ... train ...
 *   await lora.saveAdapter('lighting.safetensors', 'lighting', { naming: 'ctrlora' });
 */
import { noGrad } from '../../core/autograd.ts';
import { ArgumentError, ShapeError, TensorError, fmtShape } from '../../core/errors.ts';
import { type Module, type NamePattern, patternMatcher } from '../../core/nn/module.ts';
import { Conv2d } from '../../core/nn/layers/conv2d.ts';
import { Linear } from '../../core/nn/layers/linear.ts';
import { copyInto } from '../../core/nn/parameter.ts';
import { type WritableDtype, loadSafetensors, saveSafetensors } from '../../core/io/safetensors.ts';
import type { Backend } from '../../core/backend.ts';
import { Generator } from '../../core/random.ts';
import { sameShape } from '../../core/shape.ts';
import type { Tensor } from '../../core/tensor.ts';
import { type LoraConfig, type LoraLayerType, type ResolvedLoraConfig, matchesTarget, resolveLoraConfig } from './config.ts';
import { LORA_HOST_NAME, LoraHost, LoraPair, attachLora, detachLora, loraHostOf } from './lora-layer.ts';

/**
 * Key layout of an adapter-only state dict:
 * - `native`: the model's own keys, `<path>.lora.<adapter>.down.weight` / `.up.weight`;
 * - `ctrlora`: CtrLoRA's `<path>.lora_layer.down.weight` / `.up.weight` (adapter name dropped);
 * - `peft`: PEFT's `<path>.lora_A.weight` (down) / `.lora_B.weight` (up) (adapter name dropped).
 */
export type AdapterNaming = 'native' | 'ctrlora' | 'peft';

export interface AdapterStateDictOptions {
  naming?: AdapterNaming;
  /** Put before every key. Default '' (PEFT's own files use 'base_model.model.'; CtrLoRA's 'control_model.' with LDM paths). */
  prefix?: string;
  /**
   * Renames each key after naming and prefix (e.g. the ControlNet's diffusers -> LDM key map,
   * for CtrLoRA's own files). Loading applies the same function to the keys it expects, so
   * no inverse is needed.
   */
  renameKey?: (key: string) => string;
  /**
   * Copy the tensors (a snapshot). By default the dict holds the live parameters, like
   * Module.stateDict: loading another condition's values later would show through it.
   */
  copy?: boolean;
  /**
   * Other model parameters saved with the adapter (a ctrLoRA condition keeps its zero convs
   * and norms): exact names or patterns over the model's parameter names; keys are
   * `<prefix><name>`.
   */
  include?: readonly string[] | NamePattern;
}

export interface LoadAdapterOptions {
  naming?: AdapterNaming;
  prefix?: string;
  /** The same renaming the file was saved with (see AdapterStateDictOptions.renameKey). */
  renameKey?: (key: string) => string;
  /** Refuse missing and unknown keys (default true). Wrong shapes are always refused. */
  strict?: boolean;
}

export interface AddAdapterOptions {
  /** Make this the only active adapter (weight 1). Default true. */
  activate?: boolean;
}

interface AdapterRecord {
  config: ResolvedLoraConfig;
  /** Wrapped layer paths, in module order. */
  targets: string[];
}

const KEY_SUFFIX: Record<Exclude<AdapterNaming, 'native'>, { down: string; up: string }> = {
  ctrlora: { down: 'lora_layer.down.weight', up: 'lora_layer.up.weight' },
  peft: { down: 'lora_A.weight', up: 'lora_B.weight' },
};

/** Metadata keys of a saved adapter file. */
const META = { adapter: 'lora.adapter', config: 'lora.config', targets: 'lora.targets', naming: 'lora.naming', prefix: 'lora.prefix' } as const;

export class LoraModel {
  private readonly adapters = new Map<string, AdapterRecord>();
  private mergedSet: Map<string, number> | null = null;

  constructor(readonly model: Module) {}

  // ---- adapters ---------------------------------------------------------------------------
  /** Wraps the matching layers with a new adapter; returns the wrapped paths. */
  addAdapter(name: string, config: LoraConfig, options: AddAdapterOptions = {}): string[] {
    const where = `LoraModel.addAdapter('${name}')`;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_-]+$/.test(name)) throw new ArgumentError(`${where}: adapter names are letters, digits, '_' and '-'`);
    if (this.adapters.has(name)) throw new ArgumentError(`${where}: an adapter named '${name}' already exists`);
    this.assertUnmerged(where);
    const resolved = resolveLoraConfig(config, where);
    const layers = this.findTargets(config.targetModules, config.excludeModules ?? [], resolved.layerTypes);
    if (layers.length === 0) {
      const bare = this.model instanceof Linear || this.model instanceof Conv2d ? ' (the model itself is a single layer: wrap it in a container such as Sequential, so it has a path)' : '';
      throw new ArgumentError(`${where}: targetModules ${describePatterns(config.targetModules)} matched no ${resolved.layerTypes.join('/')} layer${bare}`);
    }
    const generator = new Generator(resolved.seed);
    for (const [, layer] of layers) attachLora(layer).addPair(name, new LoraPair(layer, resolved, generator));
    this.adapters.set(name, { config: resolved, targets: layers.map(([p]) => p) });
    if (options.activate ?? true) this.setActiveAdapters([name]);
    return layers.map(([p]) => p);
  }

  /** Removes an adapter from every layer it wraps (layers left with none lose their branch). */
  deleteAdapter(name: string): void {
    const rec = this.record(name, 'deleteAdapter');
    this.assertUnmerged(`LoraModel.deleteAdapter('${name}')`);
    for (const path of rec.targets) {
      const layer = this.model.getSubmodule(path) as Linear | Conv2d;
      const host = hostOf(layer);
      host.removePair(name);
      if (host.adapterNames().length === 0) detachLora(layer);
    }
    this.adapters.delete(name);
  }

  adapterNames(): string[] {
    return [...this.adapters.keys()];
  }
  /** The wrapped layer paths of an adapter. */
  targets(name: string): readonly string[] {
    return this.record(name, 'targets').targets;
  }
  config(name: string): ResolvedLoraConfig {
    return this.record(name, 'config').config;
  }

  /** Chooses the adapters that run: a list (weight 1 each) or name -> weight. */
  setActiveAdapters(active: readonly string[] | Readonly<Record<string, number>>): void {
    this.assertUnmerged('LoraModel.setActiveAdapters');
    const entries: [string, number][] = Array.isArray(active) ? (active as readonly string[]).map((n) => [n, 1]) : Object.entries(active as Record<string, number>);
    for (const [n, w] of entries) {
      this.record(n, 'setActiveAdapters');
      if (!Number.isFinite(w)) throw new ArgumentError(`LoraModel.setActiveAdapters: weight of '${n}' must be finite, got ${w}`);
    }
    for (const host of this.hosts()) {
      host.active.clear();
      for (const [n, w] of entries) if (host.pair(n)) host.active.set(n, w);
    }
  }

  /** Sets one active adapter's weight (adds it to the active set if absent). */
  setAdapterWeight(name: string, weight: number): void {
    this.record(name, 'setAdapterWeight');
    const active = this.activeAdapters();
    active[name] = weight;
    this.setActiveAdapters(active);
  }

  /** Active adapters and their weights. */
  activeAdapters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const host of this.hosts()) for (const [n, w] of host.active) out[n] = w;
    return out;
  }

  /** The parameters of one adapter (or of all), as named in the model. */
  namedAdapterParameters(name?: string): [string, Tensor][] {
    if (name !== undefined) this.record(name, 'namedAdapterParameters');
    const out: [string, Tensor][] = [];
    for (const [adapter, rec] of this.adapters) {
      if (name !== undefined && adapter !== name) continue;
      for (const path of rec.targets) {
        const pair = hostOf(this.model.getSubmodule(path)).pair(adapter)!;
        out.push([`${path}.${LORA_HOST_NAME}.${adapter}.down.weight`, pair.down.weight], [`${path}.${LORA_HOST_NAME}.${adapter}.up.weight`, pair.up.weight]);
      }
    }
    return out;
  }
  adapterParameters(name?: string): Tensor[] {
    return this.namedAdapterParameters(name).map(([, p]) => p);
  }
  /** Sets requiresGrad on an adapter's parameters (true by default); returns them. */
  unfreezeAdapter(name: string, flag = true): Tensor[] {
    const ps = this.adapterParameters(name);
    for (const p of ps) p.requiresGrad = flag;
    return ps;
  }

  // ---- merging ------------------------------------------------------------------------------
  /**
   * Folds the active adapters (scale * weight * up·down) into the base weights, so the
   * forward pass costs what the bare model costs. unmerge() subtracts the same product
   * (float32 rounding makes the restored weights equal to within ~1 ulp, not bit for bit).
   */
  merge(): void {
    if (this.mergedSet) throw new TensorError('LoraModel.merge: adapters are already merged; unmerge() first');
    const merged = new Map<string, number>(Object.entries(this.activeAdapters()));
    for (const host of this.hosts()) {
      for (const [n, w] of host.active) {
        const factor = host.pair(n)!.config.scale * w;
        host.foldIntoBase(n, factor);
        host.merged.set(n, factor);
      }
    }
    this.mergedSet = merged;
  }

  unmerge(): void {
    if (!this.mergedSet) throw new TensorError('LoraModel.unmerge: nothing is merged');
    for (const host of this.hosts()) {
      for (const [n, factor] of host.merged) host.foldIntoBase(n, -factor);
      host.merged.clear();
    }
    this.mergedSet = null;
  }

  get isMerged(): boolean {
    return this.mergedSet !== null;
  }

  // ---- adapter-only state ---------------------------------------------------------------------
  /** One adapter's tensors (and any `include`d model parameters) under the chosen naming. */
  adapterStateDict(name: string, options: AdapterStateDictOptions = {}): Map<string, Tensor> {
    const { naming = 'native', prefix = '', renameKey = (k: string) => k } = options;
    const out = new Map<string, Tensor>();
    const put = (key: string, live: Tensor) => {
      const t = options.copy ? noGrad(() => live.detach().clone()) : live;
      if (out.has(key)) throw new ArgumentError(`LoraModel.adapterStateDict('${name}'): two tensors map to the key '${key}' (check renameKey / include)`);
      out.set(key, t);
    };
    for (const [modelKey, t] of this.namedAdapterParameters(name)) put(renameKey(prefix + this.externalKey(modelKey, name, naming)), t);
    for (const [paramName, t] of this.includedParameters(options.include)) put(renameKey(prefix + paramName), t);
    return out;
  }

  /**
   * Loads an adapter-only state dict (the inverse of adapterStateDict) into adapter `name`,
   * which must exist with matching shapes. Keys that are not the adapter's are copied into the
   * model parameter of that name (zero convs, norms saved with `include`); anything else is
   * unexpected. Nothing is copied unless the whole dict fits.
   */
  loadAdapterStateDict(name: string, state: ReadonlyMap<string, Tensor>, options: LoadAdapterOptions = {}): { missing: string[]; unexpected: string[]; extra: string[] } {
    const { naming = 'native', prefix = '', strict = true, renameKey = (k: string) => k } = options;
    const where = `LoraModel.loadAdapterStateDict('${name}')`;
    const ownByKey = new Map<string, Tensor>();
    for (const [modelKey, t] of this.namedAdapterParameters(name)) ownByKey.set(renameKey(prefix + this.externalKey(modelKey, name, naming)), t);
    // other model parameters a file may carry (zero convs, norms), by the key they would be saved under
    const modelParams = new Map<string, [string, Tensor]>();
    for (const [n, t] of this.model.namedParameters()) if (!this.isLoraParam(n)) modelParams.set(renameKey(prefix + n), [n, t]);
    const plan: [Tensor, Tensor][] = [];
    const unexpected: string[] = [];
    const extra: string[] = [];
    const wrong: string[] = [];
    for (const [key, src] of state) {
      let target = ownByKey.get(key);
      if (!target) {
        const hit = modelParams.get(key);
        if (hit) {
          target = hit[1];
          extra.push(hit[0]);
        }
      }
      if (!target) {
        unexpected.push(key);
        continue;
      }
      if (!sameShape(target.shape, src.shape)) wrong.push(`${key} expects ${fmtShape(target.shape)}, got ${fmtShape(src.shape)}`);
      else plan.push([target, src]);
    }
    const missing = [...ownByKey.keys()].filter((k) => !state.has(k));
    if (wrong.length) throw new ShapeError(`${where}: wrong shapes (a different rank?): ${wrong.slice(0, 20).join('; ')}`);
    if (strict && (missing.length || unexpected.length)) {
      const list = (ks: string[]) => ks.slice(0, 20).join(', ') + (ks.length > 20 ? `, ... (${ks.length - 20} more)` : '');
      throw new TensorError(`${where}: the state dict does not fit (naming '${naming}', prefix '${prefix}'): ${missing.length ? `missing (${missing.length}): ${list(missing)}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected (${unexpected.length}): ${list(unexpected)}` : ''}`);
    }
    noGrad(() => {
      for (const [target, src] of plan) copyInto(target, src);
    });
    return { missing, unexpected, extra };
  }

  /** Saves one adapter (plus `include`d parameters) as safetensors, with its config in the metadata. */
  async saveAdapter(path: string, name: string, options: AdapterStateDictOptions & { dtype?: WritableDtype } = {}): Promise<void> {
    const rec = this.record(name, 'saveAdapter');
    const { naming = 'native', prefix = '' } = options;
    const c = rec.config;
    const metadata: Record<string, string> = {
      format: 'pt',
      [META.adapter]: name,
      [META.config]: JSON.stringify({ rank: c.rank, alpha: c.alpha, layerTypes: c.layerTypes, dropout: c.dropout, init: c.init, seed: c.seed }),
      [META.targets]: JSON.stringify(rec.targets),
      [META.naming]: naming,
      [META.prefix]: prefix,
    };
    // dtype: storage of every tensor (default F32; F16 halves a shipped adapter, loading widens it back)
    await saveSafetensors(path, this.adapterStateDict(name, options), { metadata, dtype: options.dtype });
  }

  /**
   * Loads an adapter file written by saveAdapter (or any file in one of the namings). If
   * adapter `name` does not exist yet it is created from the file's metadata (rank, alpha,
   * wrapped paths). Naming and prefix default to the file's metadata, then to 'native' / ''.
   */
  async loadAdapter(path: string, name?: string, options: LoadAdapterOptions & { backend?: Backend } = {}): Promise<string> {
    const { tensors, metadata } = await loadSafetensors(path, options.backend ? { backend: options.backend } : {});
    const meta = metadata ?? {};
    const adapter = name ?? meta[META.adapter];
    if (!adapter) throw new ArgumentError(`LoraModel.loadAdapter: ${path} names no adapter in its metadata; pass a name`);
    const created = !this.adapters.has(adapter);
    const previouslyActive = this.activeAdapters();
    if (created) {
      if (!meta[META.config] || !meta[META.targets]) {
        throw new ArgumentError(`LoraModel.loadAdapter: adapter '${adapter}' does not exist and ${path} has no LoRA config in its metadata; addAdapter('${adapter}', ...) first`);
      }
      let c: { rank: number; alpha: number; layerTypes: LoraLayerType[]; dropout: number; init: 'normal' | 'kaiming_uniform'; seed: number };
      let targets: string[];
      try {
        c = JSON.parse(meta[META.config]) as typeof c;
        targets = JSON.parse(meta[META.targets]) as string[];
        if (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string')) throw new Error('lora.targets is not a list of paths');
      } catch (e) {
        throw new ArgumentError(`LoraModel.loadAdapter: ${path} has unreadable LoRA metadata: ${(e as Error).message}`);
      }
      const exact = new Set(targets);
      this.addAdapter(adapter, { ...c, targetModules: [(p: string) => exact.has(p)] });
      const got = this.targets(adapter);
      if (got.length !== targets.length) {
        const missingPaths = targets.filter((t) => !got.includes(t));
        this.deleteAdapter(adapter);
        throw new ArgumentError(`LoraModel.loadAdapter: ${path} wraps layers this model lacks: ${missingPaths.slice(0, 10).join(', ')}`);
      }
    }
    const naming = options.naming ?? (meta[META.naming] as AdapterNaming | undefined) ?? 'native';
    const prefix = options.prefix ?? meta[META.prefix] ?? '';
    try {
      this.loadAdapterStateDict(adapter, tensors, { naming, prefix, strict: options.strict ?? true, ...(options.renameKey ? { renameKey: options.renameKey } : {}) });
    } catch (e) {
      if (created) {
        // leave the model as it was
        this.deleteAdapter(adapter);
        this.setActiveAdapters(previouslyActive);
      }
      throw e;
    }
    return adapter;
  }

  // ---- internals ----------------------------------------------------------------------------
  private record(name: string, op: string): AdapterRecord {
    const rec = this.adapters.get(name);
    if (!rec) throw new ArgumentError(`LoraModel.${op}: no adapter named '${name}' (have: ${this.adapterNames().join(', ') || 'none'})`);
    return rec;
  }

  private assertUnmerged(where: string): void {
    if (this.mergedSet) throw new TensorError(`${where}: adapters are merged into the base weights; unmerge() first`);
  }

  private *hosts(): IterableIterator<LoraHost> {
    for (const m of this.model.modules()) if (m instanceof LoraHost) yield m;
  }

  /** Linear / Conv2d layers outside any LoRA branch whose paths match. */
  private findTargets(targets: 'all' | readonly NamePattern[], exclude: readonly NamePattern[], types: readonly LoraLayerType[]): [string, Linear | Conv2d][] {
    const out: [string, Linear | Conv2d][] = [];
    const visit = (m: Module, path: string) => {
      if (m instanceof LoraHost) return;
      const typeOk = (m instanceof Linear && types.includes('linear')) || (m instanceof Conv2d && types.includes('conv2d'));
      if (typeOk && path !== '') {
        const hit = targets === 'all' || targets.some((p) => matchesTarget(p, path));
        if (hit && !exclude.some((p) => matchesTarget(p, path))) out.push([path, m as Linear | Conv2d]);
      }
      for (const [n, c] of m.namedChildren()) visit(c, path ? `${path}.${n}` : n);
    };
    visit(this.model, '');
    return out;
  }

  private externalKey(modelKey: string, adapter: string, naming: AdapterNaming): string {
    if (naming === 'native') return modelKey;
    const marker = `.${LORA_HOST_NAME}.${adapter}.`;
    const at = modelKey.lastIndexOf(marker);
    const path = modelKey.slice(0, at);
    const which = modelKey.endsWith('.down.weight') ? 'down' : 'up';
    return `${path}.${KEY_SUFFIX[naming][which]}`;
  }

  private includedParameters(include: AdapterStateDictOptions['include']): [string, Tensor][] {
    if (include === undefined) return [];
    const all = [...this.model.namedParameters()].filter(([n]) => !this.isLoraParam(n));
    if (Array.isArray(include)) {
      const byName = new Map(all);
      return (include as readonly string[]).map((n) => {
        const t = byName.get(n);
        if (!t) throw new ArgumentError(`LoraModel.adapterStateDict: include names '${n}', which is not a parameter of the model`);
        return [n, t];
      });
    }
    const matches = patternMatcher(include as NamePattern);
    return all.filter(([n]) => matches(n));
  }

  private isLoraParam(name: string): boolean {
    for (const a of this.adapters.keys()) if (name.includes(`.${LORA_HOST_NAME}.${a}.`)) return true;
    return false;
  }
}

function hostOf(layer: Module): LoraHost {
  const host = loraHostOf(layer);
  if (!host) throw new TensorError(`LoraModel: layer ${layer.typeName} has no LoRA branch`);
  return host;
}

function describePatterns(targets: 'all' | readonly NamePattern[]): string {
  if (targets === 'all') return "'all'";
  return `[${targets.map((p) => (typeof p === 'function' ? '<function>' : String(p))).join(', ')}]`;
}
