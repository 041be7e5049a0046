/**
 * Condition blender plugins. `register(container)` puts each under TOKENS.ConditionBlender,
 * in either container flavour (core/plugins/any-container.ts; in a PluginContainer under its name, so a
 * recipe can `"select": { "ConditionBlender": "mask-composite" }` and load this module with
 * `{ "module": "./plugins/blenders/index.ts" }`). `blenderByName` picks the one a config names.
 * To add a blender: write a class implementing ConditionBlender (core/plugins/tokens.ts) in its
 * own file in this folder, add it to BLENDERS below, and name it (`--blender <name>`).
 */
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
import { type AnyContainer, provide, resolveEvery, resolveNamed } from '../../core/plugins/any-container.ts';
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

export function register(container: AnyContainer): void {
  for (const make of BLENDERS) {
    const blender = make();
    provide(container, TOKENS.ConditionBlender, blender.name, () => blender);
  }
}

/** A fresh child container holding only the bundled blenders (for tools that need no other plugin). */
export function blenderContainer(): DependencyContainer {
  const c = rootContainer.createChildContainer();
  register(c);
  return c;
}

/** Every registered blender, in registration order. */
export function registeredBlenders(container: AnyContainer): ConditionBlender[] {
  return resolveEvery(container, TOKENS.ConditionBlender);
}

export function blenderByName(container: AnyContainer, name: string): ConditionBlender {
  return resolveNamed(container, TOKENS.ConditionBlender, name, 'condition blender');
}

export { AlphaBlender, ChannelStackBlender, MaskCompositeBlender, MultiplyBlender, OverlayBlender, ScreenBlender, SoftLightBlender };
