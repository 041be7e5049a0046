/**
 * Recipes on the dental command line (`--recipe FILE`): a framework recipe (plugins, select)
 * plus one section per command with that command's settings:
 *
 *   {
 *     "plugins": [{ "module": "./my-blender.ts", "options": { "strength": 0.5 } }],
 *     "select": { "ConditionBlender": "my-blend" },
 *     "generate": { "out": "data", "count": 200, "size": 64 }
 *   }
 *
 * The user's plugins are built over a parent holding the bundled blenders and extractors, so
 * a plugin taking a bundled name is an error unless its entry says `"override": true`; every
 * relative path (module paths, plugin file options, the section's path settings) resolves
 * against the recipe's folder; a flag given on the command line wins over the recipe.
 */
import { type Command, Option } from 'commander';
import { PluginError, type PluginContainer, createRunContainer } from '../../core/plugins/container.ts';
import { type RecipeConfig, buildRecipe, buildRecipeFile, recipePath } from '../../core/plugins/recipe.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { blenderByName, register as registerBlenders } from '../../plugins/blenders/index.ts';
import { extractorByName, register as registerExtractors } from '../../plugins/conditions/index.ts';
import type { ConditionSource } from './condition.ts';

/** The `--recipe` option, the same on every command that takes one. */
export function recipeOption(): Option {
  return new Option('--recipe <file>', 'JSON recipe: plugins to load (your blenders, extractors, ...), "select", and this command\'s settings ' +
    'under a key named after it; relative paths resolve against the recipe\'s folder; flags on the command line win');
}

let bundled: PluginContainer | null = null;

/** The bundled blenders and extractors, the parent every dental recipe is built over. */
export function bundledPlugins(): PluginContainer {
  if (!bundled) {
    bundled = createRunContainer();
    registerBlenders(bundled);
    registerExtractors(bundled);
  }
  return bundled;
}

export interface DentalRecipe {
  /** The recipe file (absolute), or null for the bundled plugins alone. */
  file: string | null;
  /** Where the recipe's relative paths resolve (the working folder without a recipe). */
  baseDir: string;
  config: RecipeConfig;
  container: PluginContainer;
}

/** Builds the recipe in `file` over the bundled plugins, or only the bundled plugins when no file is given. */
export async function loadDentalRecipe(file?: string): Promise<DentalRecipe> {
  if (file === undefined) {
    const config: RecipeConfig = { plugins: [] };
    return { file: null, baseDir: process.cwd(), config, container: await buildRecipe(config, { parent: bundledPlugins() }) };
  }
  const built = await buildRecipeFile(file, { parent: bundledPlugins() });
  return { file: recipePath(process.cwd(), file), baseDir: built.baseDir, config: built.config, container: built.container };
}

/** How a setting in a command's section is checked: a path (resolved against the recipe), or a JSON type. */
export type SettingKind = 'path' | 'integer' | 'number' | 'string' | 'object' | 'boolean';

/**
 * The recipe's settings for `command` (its section), checked against `known` (an unknown key is an
 * error, as is a wrong type) with path settings resolved against the recipe's folder.
 */
export function recipeSettings(recipe: DentalRecipe, command: string, known: Readonly<Record<string, SettingKind>>): Record<string, unknown> {
  const section = recipe.config[command];
  if (section === undefined) return {};
  const where = `recipe ${recipe.file}: "${command}"`;
  if (typeof section !== 'object' || section === null || Array.isArray(section)) throw new PluginError(`${where} must be an object of settings`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(section)) {
    const kind = known[key];
    if (!kind) throw new PluginError(`${where} has unknown setting "${key}"; it takes ${Object.keys(known).map((k) => `"${k}"`).join(', ')}`);
    const ok = kind === 'integer' ? Number.isSafeInteger(value)
      : kind === 'number' ? typeof value === 'number' && Number.isFinite(value)
      : kind === 'object' ? typeof value === 'object' && value !== null && !Array.isArray(value)
      : typeof value === (kind === 'path' ? 'string' : kind);
    if (!ok) throw new PluginError(`${where}: "${key}" must be ${kind === 'integer' ? 'an integer' : kind === 'number' ? 'a finite number' : kind === 'object' ? 'an object' : `a ${kind === 'path' ? 'path string' : kind}`}, got ${JSON.stringify(value)}`);
    out[key] = kind === 'path' ? recipePath(recipe.baseDir, value as string) : value;
  }
  return out;
}

/**
 * A command's options with the recipe merged in: a flag given on the command line wins, then
 * the recipe's setting, then the option's default.
 */
export function withRecipe<T extends object>(command: Command, options: T, settings: Record<string, unknown>): T {
  const merged = { ...options } as Record<string, unknown>;
  for (const [key, value] of Object.entries(settings)) {
    if (command.getOptionValueSource(key) !== 'cli') merged[key] = value;
  }
  return merged as T;
}

/**
 * The condition source named by a blender or an extractor, looked up in the recipe's container
 * (the bundled plugins and the recipe's own); with neither named, the recipe's `select` for
 * ConditionBlender or ConditionExtractor, else `fallbackBlender`.
 */
export function conditionFrom(
  recipe: DentalRecipe,
  names: { blender?: string; blenderOptions?: Readonly<Record<string, unknown>>; extractor?: string; extractorOptions?: Readonly<Record<string, unknown>> },
  fallbackBlender?: string,
): ConditionSource {
  let { blender, extractor } = names;
  if (blender !== undefined && extractor !== undefined) throw new PluginError(`the condition comes from a blender ("${blender}") or an extractor ("${extractor}"), not both`);
  if (blender === undefined && extractor === undefined) {
    const select = recipe.config.select ?? {};
    if (select.ConditionBlender !== undefined && select.ConditionExtractor !== undefined) {
      throw new PluginError(`recipe ${recipe.file} selects both a ConditionBlender and a ConditionExtractor; name the condition source with --blender or --extractor`);
    }
    if (select.ConditionExtractor !== undefined) extractor = recipe.container.resolve(TOKENS.ConditionExtractor).name;
    else if (select.ConditionBlender !== undefined) blender = recipe.container.resolve(TOKENS.ConditionBlender).name;
    else blender = fallbackBlender;
  }
  if (extractor !== undefined) return { extractor: extractorByName(recipe.container, extractor), ...(names.extractorOptions ? { extractorOptions: names.extractorOptions } : {}) };
  if (blender !== undefined) return { blender: blenderByName(recipe.container, blender), ...(names.blenderOptions ? { blenderOptions: names.blenderOptions } : {}) };
  return {};
}
