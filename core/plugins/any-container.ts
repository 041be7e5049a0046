/**
 * One way for a plugin to register into, and read from, either container flavour: the
 * framework's PluginContainer (what a recipe builds; registrations are named) or a plain
 * tsyringe DependencyContainer (what code wiring things by hand may pass). Plugins call these
 * instead of branching on the flavour themselves.
 *
 * Both flavours keep one instance per registration: the PluginContainer caches what it builds;
 * on tsyringe the factory caches it (tsyringe's instanceCachingFactory, written out).
 */
import type { DependencyContainer, InjectionToken } from 'tsyringe';
import { PluginContainer, PluginError } from './container.ts';
import { tokenKind } from './tokens.ts';

/** Either container flavour a plugin's register() accepts. */
export type AnyContainer = PluginContainer | DependencyContainer;

/**
 * Registers `make` under `token` as `name`; it runs on the first resolve (with the resolving
 * container, to read other kinds through resolveOne/resolveEvery) and its value is kept.
 */
export function provide<T>(container: AnyContainer, token: InjectionToken<T>, name: string, make: (container: AnyContainer) => T): void {
  if (container instanceof PluginContainer) {
    container.register(token, name, { useFactory: (c) => make(c) });
    return;
  }
  let instance: { value: T } | null = null;
  container.register(token, { useFactory: (c) => (instance ??= { value: make(c) }).value });
}

/** Whether a kind has at least one registration. */
export function isProvided(container: AnyContainer, token: InjectionToken<unknown>): boolean {
  return container instanceof PluginContainer ? container.has(token) : container.isRegistered(token, true);
}

/** The implementation of a kind: the selected one (PluginContainer), else the one registered last. */
export function resolveOne<T>(container: AnyContainer, token: InjectionToken<T>): T {
  if (container instanceof PluginContainer) return container.resolve(token);
  if (!container.isRegistered(token, true)) throw new PluginError(`no ${tokenKind(token)} plugin is registered`);
  return container.resolve(token);
}

/** The implementation of a kind when one is registered, else undefined (an optional dependency). */
export function resolveOptional<T>(container: AnyContainer, token: InjectionToken<T>): T | undefined {
  return isProvided(container, token) ? resolveOne(container, token) : undefined;
}

/** Every implementation of a kind, in registration order ([] when none). */
export function resolveEvery<T>(container: AnyContainer, token: InjectionToken<T>): T[] {
  if (container instanceof PluginContainer) return container.resolveAll(token);
  return container.isRegistered(token, true) ? container.resolveAll(token) : [];
}

/**
 * The implementation of a kind whose `name` property is `name`; the error (`what` names the
 * kind in it, default the token's kind) lists the registered names.
 */
export function resolveNamed<T extends { readonly name: string }>(container: AnyContainer, token: InjectionToken<T>, name: string, what = tokenKind(token)): T {
  const all = resolveEvery(container, token);
  const found = all.find((x) => x.name === name);
  if (!found) throw new PluginError(`unknown ${what} "${name}"; registered: ${all.map((x) => x.name).join(', ') || '(none)'}`);
  return found;
}

/** Refuses option keys a plugin does not read (a typo is an error, not silently ignored). */
export function checkOptionKeys(plugin: string, options: object, known: readonly string[]): void {
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length) throw new PluginError(`${plugin}: unknown option ${unknown.map((k) => `"${k}"`).join(', ')}; it takes ${known.map((k) => `"${k}"`).join(', ') || 'none'}`);
}
