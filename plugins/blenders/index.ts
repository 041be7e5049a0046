/**
 * Condition blender plugins. `register(container)` puts each under TOKENS.ConditionBlender,
 * in a plain tsyringe container or in the framework's PluginContainer (then under its name, so a
 * recipe can `"select": { "ConditionBlender": "mask-composite" }` and load this module with
 * `{ "module": "./plugins/blenders/index.ts" }`). `blenderByName` picks the one a config names.
 * To add a blender: write a class implementing ConditionBlender (core/plugins/tokens.ts) in its
 * own file in this folder, add it to BLENDERS below, and name it (`--blender <name>`).
 */
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { PluginContainer } from '../../core/plugins/container.ts';
import { TOKENS, type ConditionBlender } from '../../core/plugins/tokens.ts';
import { AlphaBlender } from './alpha.ts';
import { ChannelStackBlender } from './channel-stack.ts';
import { MaskCompositeBlender } from './mask-composite.ts';
import { MultiplyBlender } from './multiply.ts';
import { OverlayBlender } from './overlay.ts';
import { ScreenBlender } from './screen.ts';
import { SoftLightBlender } from './soft-light.ts';

export const BLENDERS: ReadonlyArray<() => ConditionBlender> = [
  () => new AlphaBlender(),
  () => new MultiplyBlender(),
  () => new ScreenBlender(),
  () => new OverlayBlender(),
  () => new SoftLightBlender(),
  () => new MaskCompositeBlender(),
  () => new ChannelStackBlender(),
];

export function register(container: DependencyContainer | PluginContainer): void {
  for (const make of BLENDERS) {
    const blender = make();
    if (container instanceof PluginContainer) container.register(TOKENS.ConditionBlender, blender.name, { useValue: blender });
    else container.register(TOKENS.ConditionBlender, { useValue: blender });
  }
}

/** A fresh child container holding only the bundled blenders (for tools that need no other plugin). */
export function blenderContainer(): DependencyContainer {
  const c = rootContainer.createChildContainer();
  register(c);
  return c;
}

/** Every registered blender, in registration order. */
export function registeredBlenders(container: DependencyContainer | PluginContainer): ConditionBlender[] {
  if (container instanceof PluginContainer) return container.names(TOKENS.ConditionBlender).map((n) => container.resolve(TOKENS.ConditionBlender, n));
  return container.isRegistered(TOKENS.ConditionBlender, true) ? container.resolveAll(TOKENS.ConditionBlender) : [];
}

export function blenderByName(container: DependencyContainer | PluginContainer, name: string): ConditionBlender {
  const all = registeredBlenders(container);
  const found = all.find((b) => b.name === name);
  if (!found) throw new Error(`unknown condition blender "${name}"; registered: ${all.map((b) => b.name).join(', ') || '(none)'}`);
  return found;
}

export { AlphaBlender, ChannelStackBlender, MaskCompositeBlender, MultiplyBlender, OverlayBlender, ScreenBlender, SoftLightBlender };
