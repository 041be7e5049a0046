/**
 * Condition blender plugins. `register(container)` puts each under TOKENS.ConditionBlender;
 * `blenderByName` picks the one a config names. To add a blender: write a class implementing
 * ConditionBlender (from core/plugins/tokens.ts) in its own file in this folder, add it to
 * BLENDERS below, and name it in the config (`--blender <name>`).
 */
import 'reflect-metadata';
import { container as rootContainer, type DependencyContainer } from 'tsyringe';
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

export function register(container: DependencyContainer): void {
  for (const make of BLENDERS) container.register(TOKENS.ConditionBlender, { useValue: make() });
}

/** A fresh child container holding only the bundled blenders (for tools that need no other plugin). */
export function blenderContainer(): DependencyContainer {
  const c = rootContainer.createChildContainer();
  register(c);
  return c;
}

/** Every registered blender, in registration order. */
export function registeredBlenders(container: DependencyContainer): ConditionBlender[] {
  return container.isRegistered(TOKENS.ConditionBlender, true) ? container.resolveAll(TOKENS.ConditionBlender) : [];
}

export function blenderByName(container: DependencyContainer, name: string): ConditionBlender {
  const all = registeredBlenders(container);
  const found = all.find((b) => b.name === name);
  if (!found) throw new Error(`unknown condition blender "${name}"; registered: ${all.map((b) => b.name).join(', ') || '(none)'}`);
  return found;
}

export { AlphaBlender, ChannelStackBlender, MaskCompositeBlender, MultiplyBlender, OverlayBlender, ScreenBlender, SoftLightBlender };
