/**
 * Condition extractor plugins. `register(container)` puts each under TOKENS.ConditionExtractor
 * (in a tsyringe container, or by name in the framework's PluginContainer, so a recipe can load
 * this module);
 * `extractorByName` picks one by the name a config uses. To add one: write a class implementing
 * ConditionExtractor in its own file and add it to EXTRACTORS below.
 */
import 'reflect-metadata';
import { type AnyContainer, provide, resolveNamed } from '../../core/plugins/any-container.ts';
import { TOKENS, type ConditionExtractor } from '../../core/plugins/tokens.ts';
import { CannyExtractor } from './canny.ts';
import { SoftEdgesExtractor } from './soft-edges.ts';

export const EXTRACTORS: ReadonlyArray<() => ConditionExtractor> = [() => new CannyExtractor(), () => new SoftEdgesExtractor()];

export function register(container: AnyContainer): void {
  for (const make of EXTRACTORS) {
    const extractor = make();
    provide(container, TOKENS.ConditionExtractor, extractor.name, () => extractor);
  }
}

export function extractorByName(container: AnyContainer, name: string): ConditionExtractor {
  return resolveNamed(container, TOKENS.ConditionExtractor, name, 'condition extractor');
}

export { CannyExtractor } from './canny.ts';
export { SoftEdgesExtractor } from './soft-edges.ts';
