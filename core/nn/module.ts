/**
 * Module: PyTorch's nn.Module for this framework. A module registers its parameters,
 * buffers and submodules by name; names join with dots into the keys of its state dict
 * (`down_blocks.0.resnets.1.conv1.weight`), the same keys diffusers and PyTorch use, so
 * weights move between the ecosystems through safetensors. TypeScript has no __setattr__,
 * so registration is explicit: `this.weight = this.registerParameter('weight', w)`.
 */
import type { Backend } from '../backend.ts';
import { ArgumentError, TensorError, fmtShape } from '../errors.ts';
import { sameShape } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { copyInto, isDenseLeaf, moveToBackend } from './parameter.ts';

/** Ordered name -> tensor map (a Map keeps insertion order even for keys like "0"). */
export type StateDict = Map<string, Tensor>;

export interface LoadStateDictOptions {
  /** Refuse missing and unexpected keys (wrong shapes are always refused). Default true. */
  strict?: boolean;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

/** A state dict that does not fit the module; lists every offending key. */
export class StateDictError extends TensorError {
  constructor(
    readonly missing: readonly string[],
    readonly unexpected: readonly string[],
    readonly wrongShape: readonly { key: string; expected: readonly number[]; got: readonly number[] }[],
    moduleName: string,
  ) {
    const parts: string[] = [];
    const list = (keys: readonly string[]) => keys.slice(0, 50).join(', ') + (keys.length > 50 ? `, ... (${keys.length - 50} more)` : '');
    if (missing.length) parts.push(`missing keys (${missing.length}): ${list(missing)}`);
    if (unexpected.length) parts.push(`unexpected keys (${unexpected.length}): ${list(unexpected)}`);
    if (wrongShape.length) {
      parts.push(`wrong shapes (${wrongShape.length}): ${wrongShape.slice(0, 50).map((w) => `${w.key} expects ${fmtShape(w.expected)}, got ${fmtShape(w.got)}`).join('; ')}`);
    }
    super(`loadStateDict(${moduleName}): the state dict does not fit: ${parts.join('; ')}`);
  }
}

/** A name pattern: a RegExp, a predicate, or a glob where `*` matches any run of characters (dots included). */
export type NamePattern = string | RegExp | ((name: string) => boolean);

/** A pattern as a predicate; a glob is compiled once, not once per name tested. */
export function patternMatcher(pattern: NamePattern): (name: string) => boolean {
  if (typeof pattern === 'function') return pattern;
  if (pattern instanceof RegExp) return (name) => pattern.test(name);
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return (name) => re.test(name);
}

export function matchesPattern(pattern: NamePattern, name: string): boolean {
  return patternMatcher(pattern)(name);
}

/**
 * t itself when it is a leaf owning a dense storage of its size, else a leaf holding a dense copy
 * (a contiguous slice with an offset, or a broadcast, is a view: contiguous() would not copy it).
 */
function ownDense(t: Tensor): Tensor {
  const leaf = t.isLeaf ? t : t.detach();
  return isDenseLeaf(leaf) ? leaf : leaf.clone().detach();
}

export class Module {
  /** Training mode (dropout active); switched by train()/eval() on the whole tree. */
  training = true;
  private readonly _parameters = new Map<string, Tensor | null>();
  private readonly _buffers = new Map<string, { tensor: Tensor | null; persistent: boolean }>();
  private readonly _modules = new Map<string, Module | null>();

  /** The class name, used in errors and in `toString()`. */
  get typeName(): string {
    return this.constructor.name;
  }

  // ---- registration --------------------------------------------------------------------
  private checkName(kind: string, name: string): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) {
      throw new ArgumentError(`${this.typeName}.${kind}: name must be a non-empty string without dots, got ${JSON.stringify(name)}`);
    }
    const taken = (this._parameters.has(name) && kind !== 'registerParameter') || (this._buffers.has(name) && kind !== 'registerBuffer') || (this._modules.has(name) && kind !== 'registerModule');
    if (taken) throw new ArgumentError(`${this.typeName}.${kind}: '${name}' is already registered as another kind of member`);
  }

  /**
   * Registers a parameter (null: a declared but absent one, like a disabled bias). The tensor
   * becomes a dense leaf with requiresGrad set; the registered tensor is returned.
   */
  registerParameter<T extends Tensor | null>(name: string, tensor: T): T {
    this.checkName('registerParameter', name);
    if (tensor === null) {
      this._parameters.set(name, null);
      return tensor;
    }
    // A parameter must own a dense storage (updates swap it): computed tensors are detached, views copied.
    const p = ownDense(tensor);
    p.requiresGrad = true;
    p.name ??= name;
    this._parameters.set(name, p);
    return p as T;
  }

  /** Registers a buffer: state that is saved but not trained (running statistics, fixed tables). */
  registerBuffer<T extends Tensor | null>(name: string, tensor: T, persistent = true): T {
    this.checkName('registerBuffer', name);
    const b = tensor === null ? tensor : (ownDense(tensor) as T);
    this._buffers.set(name, { tensor: b, persistent });
    return b;
  }

  registerModule<M extends Module | null>(name: string, module: M): M {
    this.checkName('registerModule', name);
    if (module !== null && !(module instanceof Module)) {
      throw new ArgumentError(`${this.typeName}.registerModule: '${name}' is not a Module`);
    }
    this._modules.set(name, module);
    return module;
  }

  // ---- traversal -----------------------------------------------------------------------
  *namedChildren(): IterableIterator<[string, Module]> {
    for (const [name, m] of this._modules) if (m) yield [name, m];
  }
  *children(): IterableIterator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }
  /** This module and every descendant, depth first, each once. */
  *namedModules(prefix = '', seen = new Set<Module>()): IterableIterator<[string, Module]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [name, m] of this.namedChildren()) yield* m.namedModules(prefix ? `${prefix}.${name}` : name, seen);
  }
  *modules(): IterableIterator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }
  /** Every parameter with its dotted name; a tensor shared by two modules is listed once. */
  *namedParameters(prefix = '', recurse = true): IterableIterator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods: Iterable<[string, Module]> = recurse ? this.namedModules(prefix) : [[prefix, this]];
    for (const [modName, m] of mods) {
      for (const [name, p] of m._parameters) {
        if (!p || seen.has(p)) continue;
        seen.add(p);
        yield [modName ? `${modName}.${name}` : name, p];
      }
    }
  }
  parameters(recurse = true): Tensor[] {
    return Array.from(this.namedParameters('', recurse), ([, p]) => p);
  }
  /** The parameters with requiresGrad set (what an optimiser should get). */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((p) => p.requiresGrad);
  }
  *namedBuffers(prefix = ''): IterableIterator<[string, Tensor]> {
    for (const [modName, m] of this.namedModules(prefix)) {
      for (const [name, b] of m._buffers) if (b.tensor) yield [modName ? `${modName}.${name}` : name, b.tensor];
    }
  }
  /** Total element counts (shared parameters counted once). */
  numParameters(): { total: number; trainable: number } {
    let total = 0;
    let trainable = 0;
    for (const p of this.parameters()) {
      total += p.size;
      if (p.requiresGrad) trainable += p.size;
    }
    return { total, trainable };
  }

  /** The submodule at a dotted path (`down_blocks.0.resnets.1`). */
  getSubmodule(path: string): Module {
    if (path === '') return this;
    let m: Module = this;
    const walked: string[] = [];
    for (const part of path.split('.')) {
      const next = m._modules.get(part);
      if (!next) {
        throw new ArgumentError(`${this.typeName}.getSubmodule: no submodule '${part}' under '${walked.join('.') || '(root)'}' (has: ${[...m._modules.keys()].join(', ') || 'none'})`);
      }
      walked.push(part);
      m = next;
    }
    return m;
  }

  /**
   * Replaces the submodule at a dotted path (torch's set_submodule): how adapters such as
   * LoRA wrap existing layers. The parent's fields that held the old module are pointed at
   * the new one, so its forward() uses it. Returns the old module.
   */
  setSubmodule(path: string, module: Module): Module {
    const cut = path.lastIndexOf('.');
    const parent = this.getSubmodule(cut < 0 ? '' : path.slice(0, cut));
    const name = path.slice(cut + 1);
    const old = parent._modules.get(name);
    if (!old) throw new ArgumentError(`${this.typeName}.setSubmodule: no submodule '${path}' to replace`);
    if (!(module instanceof Module)) throw new ArgumentError(`${this.typeName}.setSubmodule: the replacement for '${path}' is not a Module`);
    parent._modules.set(name, module);
    parent.replaceReferences(old, module);
    return old;
  }

  /** Points this module's own fields (and containers' item lists) from one submodule to another. */
  protected replaceReferences(old: Module, replacement: Module): void {
    const self = this as unknown as Record<string, unknown>;
    for (const key of Object.keys(self)) if (self[key] === old) self[key] = replacement;
  }

  /** The submodules (dotted name and module) whose names match a pattern, optionally of one class. */
  findModules<M extends Module = Module>(pattern: NamePattern, type?: abstract new (...args: never[]) => M): [string, M][] {
    const out: [string, M][] = [];
    const matches = patternMatcher(pattern);
    for (const [name, m] of this.namedModules()) {
      if (name !== '' && matches(name) && (!type || m instanceof type)) out.push([name, m as M]);
    }
    return out;
  }

  // ---- state ---------------------------------------------------------------------------
  /** Parameters and persistent buffers by dotted name (the tensors themselves, not copies). */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [modName, m] of this.namedModules()) {
      const key = (n: string) => (modName ? `${modName}.${n}` : n);
      for (const [name, p] of m._parameters) if (p) out.set(key(name), p);
      for (const [name, b] of m._buffers) if (b.tensor && b.persistent) out.set(key(name), b.tensor);
    }
    return out;
  }

  /**
   * Copies values from `state` into this module's parameters and buffers (in place, so
   * optimisers holding them keep working). Any wrong shape is an error; missing and
   * unexpected keys are errors when strict (the default), and are returned otherwise.
   * Nothing is copied unless the whole dict fits.
   */
  loadStateDict(state: StateDict | Readonly<Record<string, Tensor>>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const entries = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !entries.has(k));
    const unexpected = [...entries.keys()].filter((k) => !own.has(k));
    const wrongShape: { key: string; expected: readonly number[]; got: readonly number[] }[] = [];
    for (const [key, target] of own) {
      const src = entries.get(key);
      if (src && !sameShape(src.shape, target.shape)) wrongShape.push({ key, expected: target.shape, got: src.shape });
    }
    if (wrongShape.length || (strict && (missing.length || unexpected.length))) {
      throw new StateDictError(strict ? missing : [], strict ? unexpected : [], wrongShape, this.typeName);
    }
    for (const [key, target] of own) {
      const src = entries.get(key);
      if (src) copyInto(target, src);
    }
    return { missing, unexpected };
  }

  // ---- modes and freezing --------------------------------------------------------------
  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /** Sets requiresGrad on every parameter. */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }
  /** Stops training the parameters whose dotted names match; returns the names frozen. */
  freeze(pattern: NamePattern = '*'): string[] {
    return this.setTrainable(pattern, false);
  }
  /** Trains again the parameters whose dotted names match; returns their names. */
  unfreeze(pattern: NamePattern = '*'): string[] {
    return this.setTrainable(pattern, true);
  }
  private setTrainable(pattern: NamePattern, flag: boolean): string[] {
    const hit: string[] = [];
    const matches = patternMatcher(pattern);
    for (const [name, p] of this.namedParameters()) {
      if (!matches(name)) continue;
      p.requiresGrad = flag;
      if (!flag) p.grad = null;
      hit.push(name);
    }
    return hit;
  }
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Calls fn on every submodule (children first, then this one), like torch's Module.apply. */
  apply(fn: (module: Module, name: string) => void): this {
    const visit = (m: Module, name: string, seen: Set<Module>) => {
      if (seen.has(m)) return;
      seen.add(m);
      for (const [childName, child] of m.namedChildren()) visit(child, name ? `${name}.${childName}` : childName, seen);
      fn(m, name);
    };
    visit(this, '', new Set());
    return this;
  }

  /** Moves every parameter and buffer to `backend` (in place: the same Tensor objects). */
  to(backend: Backend): this {
    const all = [...this.parameters(), ...Array.from(this.namedBuffers(), ([, b]) => b)];
    for (const t of all) {
      if (t.backend === backend) continue;
      moveToBackend(t, backend);
    }
    return this;
  }

  toString(): string {
    const lines = [`${this.typeName}(${this.extraRepr()}`];
    for (const [name, m] of this.namedChildren()) lines.push(`  (${name}): ${m.toString().split('\n').join('\n  ')}`);
    return lines.length === 1 ? `${lines[0]})` : `${lines.join('\n')}\n)`;
  }
  /** Extra text in toString() (layer sizes). */
  protected extraRepr(): string {
    return '';
  }
}

/** A module with a single-tensor forward: what Sequential chains. */
export abstract class UnaryModule extends Module {
  abstract forward(x: Tensor): Tensor;
}

/** Describes a module's parameters for error messages and run-start telemetry. */
export function describeParameters(m: Module): string {
  return Array.from(m.namedParameters(), ([n, p]) => `${n} ${fmtShape(p.shape)}${p.requiresGrad ? '' : ' (frozen)'}`).join('\n');
}
