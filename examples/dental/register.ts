/**
 * Registration of the dental Dataset plugins. A dataset needs its folder (or its generator
 * settings) before it exists, so it is opened first and then registered as a value under
 * TOKENS.Dataset; the recipe asks the container for the token.
 *
 * As a recipe plugin (`{ "module": "./examples/dental/register.ts", "options": {...} }`),
 * `register` reads its options: `root` (a dataset folder: the loader, registered as "dental")
 * or no root (the procedural generator, registered as "dental-procedural", with `count`,
 * `seed`, `width`, `height`). The condition image: `blender` names a ConditionBlender (over
 * lighting + segmentation) or `extractor` a ConditionExtractor (over the target: canny,
 * soft-edges, a user's), each looked up among the container's registrations, else the bundled
 * ones; with neither, the procedural dataset blends with mask-composite and the loader uses the
 * data's own source/ (see dataset.ts for what a dataset cannot apply). The loader's other
 * options (split, flip, skipInvalid, ...) pass through.
 */
import { resolve as resolvePath } from 'node:path';
import { type AnyContainer, provide } from '../../core/plugins/any-container.ts';
import { type PluginContainer, createRunContainer } from '../../core/plugins/container.ts';
import type { PluginContext } from '../../core/plugins/recipe.ts';
import { TOKENS, type ConditionBlender, type ConditionExtractor, type Dataset } from '../../core/plugins/tokens.ts';
import { blenderByName, blenderContainer } from '../../plugins/blenders/index.ts';
import { extractorByName, register as registerExtractors } from '../../plugins/conditions/index.ts';
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

function pickExtractor(container: PluginContainer, name: string): ConditionExtractor {
  if (container.has(TOKENS.ConditionExtractor, name)) return container.resolve(TOKENS.ConditionExtractor, name);
  const bundled = createRunContainer();
  registerExtractors(bundled);
  return extractorByName(bundled, name);
}

const COMMON_OPTIONS = ['blender', 'blenderOptions', 'extractor', 'extractorOptions', 'width', 'height'];
const LOADER_OPTIONS = ['root', 'split', 'valFraction', 'splitSeed', 'flip', 'flipSeed', 'verify', 'skipInvalid'];
const PROCEDURAL_OPTIONS = ['count', 'seed'];

/** The recipe-plugin entry point (see the module comment for the options). */
export async function register(container: PluginContainer, options: Readonly<Record<string, unknown>> = {}, context?: PluginContext): Promise<void> {
  // An option the chosen dataset does not read (a typo, or a loader option without `root`) is an error, not ignored.
  const known = [...COMMON_OPTIONS, ...(options.root !== undefined ? LOADER_OPTIONS : PROCEDURAL_OPTIONS)];
  const unknown = Object.keys(options).filter((k) => !known.includes(k));
  if (unknown.length) {
    const which = options.root !== undefined ? `the dataset folder loader (with "root")` : `the procedural dataset (no "root")`;
    throw new Error(`examples/dental/register.ts: unknown option ${unknown.map((k) => `"${k}"`).join(', ')} for ${which}; it takes ${known.map((k) => `"${k}"`).join(', ')}`);
  }
  const { root, blender, blenderOptions, extractor, extractorOptions, count = 2000, seed = 0, width = 128, height, ...rest } = options as Record<string, never>;
  if (blender !== undefined && extractor !== undefined) {
    throw new Error(`examples/dental/register.ts: both "blender" ("${blender}") and "extractor" ("${extractor}") are set; the condition comes from one of them`);
  }
  const condition = {
    ...(blender !== undefined ? { blender: pickBlender(container, blender), blenderOptions } : {}),
    ...(extractor !== undefined ? { extractor: pickExtractor(container, extractor), extractorOptions } : {}),
  };
  if (root !== undefined) {
    // a relative root resolves against the recipe's folder, like the recipe's module paths
    await registerDentalDataset(container, context ? resolvePath(context.baseDir, root) : root, { ...(rest as DentalDatasetOptions), width, height: height ?? width, ...condition });
  } else {
    const procedural = blender === undefined && extractor === undefined ? { blender: pickBlender(container, 'mask-composite') } : condition;
    registerProceduralDataset(container, { count, seed, width, height: height ?? width, ...procedural });
  }
}
