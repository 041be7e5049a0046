/**
 * Registration of the dental Dataset plugins. A dataset needs its folder (or its generator
 * settings) before it exists, so it is opened first and then registered as a value under
 * TOKENS.Dataset; the recipe asks the container for the token.
 *
 * As a recipe plugin (`{ "module": "./examples/dental/register.ts", "options": {...} }`),
 * `register` reads its options: `root` (a dataset folder: the loader, registered as "dental")
 * or no root (the procedural generator, registered as "dental-procedural", with `count`,
 * `seed`, `width`, `height`); `blender` names the ConditionBlender for the condition image
 * (looked up among the container's blenders, else the bundled ones; default mask-composite);
 * the loader's other options (split, flip, skipInvalid, ...) pass through.
 */
import { type AnyContainer, provide } from '../../core/plugins/any-container.ts';
import type { PluginContainer } from '../../core/plugins/container.ts';
import { TOKENS, type ConditionBlender, type Dataset } from '../../core/plugins/tokens.ts';
import { blenderByName, blenderContainer } from '../../plugins/blenders/index.ts';
import { DentalDataset, type DentalDatasetOptions, type DentalSample } from './dataset.ts';
import { ProceduralDentalDataset, type ProceduralDentalOptions } from './procedural-dataset.ts';

export function registerDataset(container: AnyContainer, dataset: Dataset<DentalSample>): void {
  provide(container, TOKENS.Dataset, dataset.name, () => dataset);
}

/** Opens the dataset in `root` (any layout DentalDataset reads) and registers it. */
export async function registerDentalDataset(
  container: AnyContainer,
  root: string,
  options?: DentalDatasetOptions,
): Promise<DentalDataset> {
  const ds = await DentalDataset.open(root, options);
  registerDataset(container, ds);
  return ds;
}

/** Registers a procedural (render-on-demand) dental dataset. */
export function registerProceduralDataset(container: AnyContainer, options: ProceduralDentalOptions): ProceduralDentalDataset {
  const ds = new ProceduralDentalDataset(options);
  registerDataset(container, ds);
  return ds;
}

function pickBlender(container: PluginContainer, name: string): ConditionBlender {
  if (container.has(TOKENS.ConditionBlender, name)) return container.resolve(TOKENS.ConditionBlender, name);
  return blenderByName(blenderContainer(), name);
}

const COMMON_OPTIONS = ['blender', 'blenderOptions', 'width', 'height'];
const LOADER_OPTIONS = ['root', 'split', 'valFraction', 'splitSeed', 'flip', 'flipSeed', 'verify', 'skipInvalid'];
const PROCEDURAL_OPTIONS = ['count', 'seed'];

/** The recipe-plugin entry point (see the module comment for the options). */
export async function register(container: PluginContainer, options: Readonly<Record<string, unknown>> = {}): Promise<void> {
  // An option the chosen dataset does not read (a typo, or a loader option without `root`) is an error, not ignored.
  const known = [...COMMON_OPTIONS, ...(options.root !== undefined ? LOADER_OPTIONS : PROCEDURAL_OPTIONS)];
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length) {
    const which = options.root !== undefined ? `the dataset folder loader (with "root")` : `the procedural dataset (no "root")`;
    throw new Error(`examples/dental/register.ts: unknown option ${unknown.map((k) => `"${k}"`).join(', ')} for ${which}; it takes ${known.map((k) => `"${k}"`).join(', ')}`);
  }
  const { root, blender = 'mask-composite', blenderOptions, count = 2000, seed = 0, width = 128, height, ...rest } = options as Record<string, never>;
  const chosen = pickBlender(container, blender);
  if (root !== undefined) {
    await registerDentalDataset(container, root, { ...(rest as DentalDatasetOptions), width, height: height ?? width, blender: chosen, blenderOptions });
  } else {
    registerProceduralDataset(container, { count, seed, width, height: height ?? width, blender: chosen, blenderOptions });
  }
}
