/**
 * Condition extractor plugins. `register(container)` puts each under TOKENS.ConditionExtractor
 * (in a tsyringe container, or by name in the framework's PluginContainer, so a recipe can load
 * this module);
 * `extractorByName` picks one by the name a config uses. To add one: write a class implementing
 * ConditionExtractor in its own file and add it to EXTRACTORS below.
 */
import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';
import { PluginContainer } from '../../core/plugins/container.ts';
import { TOKENS, type ConditionExtractor } from '../../core/plugins/tokens.ts';
import { CannyExtractor } from './canny.ts';
import { SoftEdgesExtractor } from './soft-edges.ts';

export const EXTRACTORS: ReadonlyArray<() => ConditionExtractor> = [() => new CannyExtractor(), () => new SoftEdgesExtractor()];

export function register(container: DependencyContainer | PluginContainer): void {
  for (const make of EXTRACTORS) {
    const extractor = make();
    if (container instanceof PluginContainer) container.register(TOKENS.ConditionExtractor, extractor.name, { useValue: extractor });
    else container.register(TOKENS.ConditionExtractor, { useValue: extractor });
  }
}

export function extractorByName(container: DependencyContainer | PluginContainer, name: string): ConditionExtractor {
  const all = container instanceof PluginContainer
    ? container.names(TOKENS.ConditionExtractor).map((n) => container.resolve(TOKENS.ConditionExtractor, n))
    : container.isRegistered(TOKENS.ConditionExtractor, true) ? container.resolveAll(TOKENS.ConditionExtractor) : [];
  const found = all.find((e) => e.name === name);
  if (!found) {
    throw new Error(`unknown condition extractor "${name}"; registered: ${all.map((e) => e.name).join(', ') || '(none)'}`);
  }
  return found;
}

export { CannyExtractor } from './canny.ts';
export { SoftEdgesExtractor } from './soft-edges.ts';
