/**
 * The plugin container: tsyringe underneath, plus what a recipe needs on top of it.
 *
 * - Every registration has a kind (its token) and a name, so a config can pick
 *   `"ConditionBlender": "alpha"` and an error can list what *is* registered.
 * - Each run gets a child container: plugins registered for one run do not leak into the
 *   next, and run-scoped objects (the telemetry bus) live and die with the run.
 * - Classes are built by tsyringe: put `@injectable()` on the class and `@inject(TOKEN)` on
 *   every constructor parameter (no decorator metadata is emitted, so a parameter without
 *   `@inject` cannot be resolved). `@inject(TOKEN)` receives the selected implementation.
 */
import 'reflect-metadata';
import { type DependencyContainer, type InjectionToken, container as tsyringeRoot } from 'tsyringe';
import { TOKENS, tokenKind } from './tokens.ts';

/** Where tsyringe's @inject keeps a class's parameter tokens. */
const INJECTION_TOKENS_KEY = 'injectionTokens';

/** Re-exported so plugins take them from here: this module loads reflect-metadata before tsyringe. */
export { inject, injectable } from 'tsyringe';

export class PluginError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PluginError';
  }
}

type Constructor<T> = new (...args: never[]) => T;

/** How to make an implementation: a ready value, a class tsyringe constructs, or a factory. */
export type Provider<T> =
  | { useValue: T }
  | { useClass: Constructor<T> }
  | { useFactory: (container: PluginContainer) => T };

interface Registration {
  name: string;
  provider: Provider<unknown>;
  /** The built instance: each registration is a singleton of the container it was made in. */
  instance?: { value: unknown };
}

export class PluginContainer {
  readonly di: DependencyContainer;
  private readonly registry = new Map<InjectionToken<unknown>, Registration[]>();
  private readonly selected = new Map<InjectionToken<unknown>, string>();
  /** Called before each registration here; a recipe build uses it to refuse a name that is already taken. */
  guard: ((token: InjectionToken<unknown>, name: string) => void) | null = null;

  constructor(readonly parent: PluginContainer | null = null, di?: DependencyContainer) {
    this.di = di ?? (parent ? parent.di.createChildContainer() : tsyringeRoot.createChildContainer());
  }

  /** A child container for one run: sees everything registered here, registers its own. */
  createChild(): PluginContainer {
    return new PluginContainer(this);
  }

  /**
   * Registers an implementation of a kind under a name (a later registration of the same
   * name in the same container replaces it). Returns this, for chaining.
   */
  register<T>(token: InjectionToken<T>, name: string, provider: Provider<T>): this {
    if (typeof name !== 'string' || name === '') throw new PluginError(`register(${tokenKind(token)}): a registration needs a non-empty name`);
    const keys = Object.keys(provider);
    if (keys.length !== 1 || !['useValue', 'useClass', 'useFactory'].includes(keys[0]!)) {
      throw new PluginError(`register(${tokenKind(token)}, '${name}'): the provider must have exactly one of useValue, useClass, useFactory (got ${keys.join(', ') || 'none'})`);
    }
    this.guard?.(token, name);
    const list = this.registry.get(token) ?? [];
    const kept = list.filter((r) => r.name !== name);
    kept.push({ name, provider: provider as Provider<unknown> });
    this.registry.set(token, kept);
    this.bridge(token);
    return this;
  }

  /** Lets tsyringe resolve @inject(token) through this container, so it gets the selected implementation. */
  private bridge(token: InjectionToken<unknown>): void {
    if (!this.di.isRegistered(token, false)) this.di.register(token, { useFactory: () => this.resolve(token) });
  }

  /** Makes `name` the implementation `resolve(token)` and `@inject(token)` return. */
  select(token: InjectionToken<unknown>, name: string): this {
    if (!this.names(token).includes(name)) throw this.missing(token, name);
    this.selected.set(token, name);
    this.bridge(token);
    return this;
  }

  /** The names registered for a kind, here and in the ancestors (nearest first wins on a clash). */
  names(token: InjectionToken<unknown>): string[] {
    return this.entries(token).map(([r]) => r.name);
  }

  has(token: InjectionToken<unknown>, name?: string): boolean {
    const names = this.names(token);
    return name === undefined ? names.length > 0 : names.includes(name);
  }

  /** Every kind with at least one registration, with its names. */
  catalogue(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (let c: PluginContainer | null = this; c; c = c.parent) {
      for (const token of c.registry.keys()) {
        const kind = tokenKind(token);
        if (!out.has(kind)) out.set(kind, this.names(token));
      }
    }
    return out;
  }

  /**
   * The implementation of a kind: the named one, else the selected one, else the one
   * registered last (nearest container first). Unknown names and empty kinds give an error
   * listing what is registered.
   */
  resolve<T>(token: InjectionToken<T>, name?: string): T {
    const wanted = name ?? this.selection(token);
    const all = this.entries(token);
    const hit = wanted === undefined ? all.at(-1) : all.find(([r]) => r.name === wanted);
    if (!hit) throw this.missing(token, wanted);
    return hit[1].build(hit[0]) as T;
  }

  /** Every implementation of a kind (all sinks, say), in registration order. */
  resolveAll<T>(token: InjectionToken<T>): T[] {
    return this.entries(token).map(([r, owner]) => owner.build(r) as T);
  }

  private selection(token: InjectionToken<unknown>): string | undefined {
    for (let c: PluginContainer | null = this; c; c = c.parent) {
      const s = c.selected.get(token);
      if (s !== undefined) return s;
    }
    return undefined;
  }

  /** Registrations visible from here, oldest ancestor first, a nearer one shadowing a same-named farther one. */
  private entries(token: InjectionToken<unknown>): [Registration, PluginContainer][] {
    const chain: PluginContainer[] = [];
    for (let c: PluginContainer | null = this; c; c = c.parent) chain.unshift(c);
    const byName = new Map<string, [Registration, PluginContainer]>();
    for (const c of chain) {
      for (const r of c.registry.get(token) ?? []) {
        byName.delete(r.name);
        byName.set(r.name, [r, c]);
      }
    }
    return [...byName.values()];
  }

  private build(r: Registration): unknown {
    if (r.instance) return r.instance.value;
    const p = r.provider;
    let value: unknown;
    if ('useValue' in p) value = p.useValue;
    else if ('useFactory' in p) value = p.useFactory(this);
    else {
      this.checkDependencies(r.name, p.useClass);
      try {
        value = this.di.resolve(p.useClass as unknown as Constructor<unknown>);
      } catch (e) {
        throw new PluginError(
          `could not construct '${r.name}' (${p.useClass.name}): ${(e as Error).message.split('\n')[0]}. ` +
            'Is the class decorated with @injectable() and every constructor parameter with @inject(TOKEN)?',
        );
      }
    }
    r.instance = { value };
    return value;
  }

  /** Before tsyringe builds a class, names any @inject token nobody registered (tsyringe's own error does not). */
  private checkDependencies(name: string, cls: Constructor<unknown>): void {
    const tokens = (Reflect.getOwnMetadata(INJECTION_TOKENS_KEY, cls) ?? {}) as Record<string, unknown>;
    for (const [index, descriptor] of Object.entries(tokens)) {
      // @inject(TOKEN) stores { token, multiple, isOptional } (older tsyringe: the token itself).
      const d = descriptor as { token?: unknown; isOptional?: boolean } | symbol;
      if (typeof d === 'object' && d !== null && d.isOptional) continue;
      const token = typeof d === 'object' && d !== null && 'token' in d ? d.token : d;
      if (typeof token !== 'symbol' || !Object.values(TOKENS).includes(token as never)) continue;
      if (!this.has(token as InjectionToken<unknown>)) {
        const e = this.missing(token as InjectionToken<unknown>, undefined);
        throw new PluginError(`could not construct '${name}' (${cls.name}): constructor parameter ${index} needs a ${tokenKind(token as InjectionToken<unknown>)}, but ${e.message}`);
      }
    }
  }

  private missing(token: InjectionToken<unknown>, name: string | undefined): PluginError {
    const kind = tokenKind(token);
    const names = this.names(token);
    const have = names.length ? `registered ${kind} plugins: ${names.join(', ')}` : `no ${kind} plugin is registered`;
    const what = name === undefined ? `no ${kind} plugin is registered` : `no ${kind} plugin named '${name}'; ${have}`;
    // This kind first, then the others (catalogue() lists only kinds with registrations).
    const catalogue = [...this.catalogue()].sort(([a], [b]) => Number(b === kind) - Number(a === kind));
    return new PluginError(`${what}. Registered kinds: ${catalogue.map(([k, n]) => `${k} (${n.join(', ')})`).join('; ') || 'none'}`);
  }
}

/** The process-wide root; runs get children of it (createRunContainer). */
export const rootContainer = new PluginContainer();

/** A fresh child container for one run (of `parent`, default the root). */
export function createRunContainer(parent: PluginContainer = rootContainer): PluginContainer {
  return parent.createChild();
}
