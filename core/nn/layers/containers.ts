/** Sequential and ModuleList: submodules named "0", "1", ... as in PyTorch (`down_blocks.0...`). */
import { ArgumentError } from '../../errors.ts';
import type { Tensor } from '../../tensor.ts';
import { Module, UnaryModule } from '../module.ts';

export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private items: M[] = [];

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.push(m);
  }
  push(module: M): this {
    this.registerModule(String(this.items.length), module);
    this.items.push(module);
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  /** The module at index i (negative counts from the end). */
  at(i: number): M {
    const m = this.items.at(i);
    if (!m) throw new ArgumentError(`ModuleList.at: index ${i} out of range for length ${this.items.length}`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
  map<T>(fn: (m: M, i: number) => T): T[] {
    return this.items.map(fn);
  }
  protected override replaceReferences(old: Module, replacement: Module): void {
    this.items = this.items.map((m) => (m === old ? (replacement as M) : m));
  }
}

/** Chains single-input modules: forward(x) = mN(...m1(m0(x))). */
export class Sequential extends UnaryModule {
  private items: UnaryModule[];

  constructor(...modules: UnaryModule[]) {
    super();
    this.items = modules;
    modules.forEach((m, i) => this.registerModule(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): UnaryModule {
    const m = this.items.at(i);
    if (!m) throw new ArgumentError(`Sequential.at: index ${i} out of range for length ${this.items.length}`);
    return m;
  }
  forward(x: Tensor): Tensor {
    return this.items.reduce((h, m) => m.forward(h), x);
  }
  protected override replaceReferences(old: Module, replacement: Module): void {
    if (!(replacement instanceof UnaryModule)) throw new ArgumentError('Sequential: a replacement must have a single-tensor forward (UnaryModule)');
    this.items = this.items.map((m) => (m === old ? replacement : m));
  }
}
