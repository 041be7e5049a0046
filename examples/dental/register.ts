/**
 * Registration of the dental Dataset plugins. A dataset needs its folder (or its generator
 * settings) before it exists, so it is opened first and then registered as a value under
 * TOKENS.Dataset; the recipe asks the container for the token.
 */
import type { DependencyContainer } from 'tsyringe';
import { TOKENS, type Dataset } from '../../core/plugins/tokens.ts';
import { DentalDataset, type DentalDatasetOptions, type DentalSample } from './dataset.ts';
import { ProceduralDentalDataset, type ProceduralDentalOptions } from './procedural-dataset.ts';

export function registerDataset(container: DependencyContainer, dataset: Dataset<DentalSample>): void {
  container.register(TOKENS.Dataset, { useValue: dataset });
}

/** Opens the dataset in `root` (any layout DentalDataset reads) and registers it. */
export async function registerDentalDataset(container: DependencyContainer, root: string, options?: DentalDatasetOptions): Promise<DentalDataset> {
  const ds = await DentalDataset.open(root, options);
  registerDataset(container, ds);
  return ds;
}

/** Registers a procedural (render-on-demand) dental dataset. */
export function registerProceduralDataset(container: DependencyContainer, options: ProceduralDentalOptions): ProceduralDentalDataset {
  const ds = new ProceduralDentalDataset(options);
  registerDataset(container, ds);
  return ds;
}
