/**
 * Condition extractor plugins. `register(container)` puts each under TOKENS.ConditionExtractor;
 * `extractorByName` picks one by the name a config uses. To add one: write a class implementing
 * ConditionExtractor in its own file and add it to EXTRACTORS below.
 */
import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';
import { TOKENS, type ConditionExtractor } from '../../core/plugins/tokens.ts';
import { CannyExtractor } from './canny.ts';
import { SoftEdgesExtractor } from './soft-edges.ts';

export const EXTRACTORS: ReadonlyArray<() => ConditionExtractor> = [() => new CannyExtractor(), () => new SoftEdgesExtractor()];

export function register(container: DependencyContainer): void {
  for (const make of EXTRACTORS) container.register(TOKENS.ConditionExtractor, { useValue: make() });
}

export function extractorByName(container: DependencyContainer, name: string): ConditionExtractor {
  const all = container.isRegistered(TOKENS.ConditionExtractor, true) ? container.resolveAll(TOKENS.ConditionExtractor) : [];
  const found = all.find((e) => e.name === name);
  if (!found) {
    throw new Error(`unknown condition extractor "${name}"; registered: ${all.map((e) => e.name).join(', ') || '(none)'}`);
  }
  return found;
}

export { CannyExtractor } from './canny.ts';
export { SoftEdgesExtractor } from './soft-edges.ts';
