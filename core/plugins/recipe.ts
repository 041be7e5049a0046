/**
 * Recipes from configs. A plugin is an ES module exporting `register(container, options)`;
 * a recipe is a JSON config naming the plugins to load (by path, package name or built-in
 * name), their options, and which implementation of a kind to use:
 *
 *   {
 *     "plugins": [
 *       { "module": "./my-plugin/index.ts", "options": { "strength": 0.5 } },
 *       { "use": "telemetry/jsonl", "options": { "path": "runs/demo/events.jsonl" } }
 *     ],
 *     "select": { "ConditionBlender": "my-blend" }
 *   }
 *
 * Relative module paths resolve against the config file's folder, which register() also gets
 * (`context.baseDir`) to resolve the file paths in its options. Each build makes a
 * fresh child container, so every run starts from the same plugins.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PluginContainer, PluginError, createRunContainer, rootContainer } from './container.ts';
import { TOKENS } from './tokens.ts';

export type PluginOptions = Readonly<Record<string, unknown>>;

/** What a plugin's register() gets besides its options. */
export interface PluginContext {
  /** The recipe's folder (buildRecipeFile) or BuildRecipeOptions.baseDir, else the working directory: relative file options resolve against it. */
  baseDir: string;
}

/** What a plugin module exports. */
export interface PluginModule {
  register(container: PluginContainer, options: PluginOptions, context: PluginContext): void | Promise<void>;
}

export interface PluginEntry {
  /** A module path (relative to the config's folder, or absolute) or a package name. */
  module?: string;
  /** A built-in plugin name (see `builtinPlugins`). */
  use?: string;
  options?: PluginOptions;
}

export interface RecipeConfig {
  plugins: PluginEntry[];
  /** Kind name (a key of TOKENS) -> the registered name to use for it. */
  select?: Readonly<Record<string, string>>;
  /** Anything else the recipe's own code reads (training settings...). */
  [key: string]: unknown;
}

/** Lazy loaders of the framework's own plugins, by the name a config gives in `use`. */
export const builtinPlugins: Record<string, () => Promise<PluginModule>> = {
  'telemetry/progress': () => import('../telemetry/sinks/progress.ts'),
  'telemetry/jsonl': () => import('../telemetry/sinks/jsonl.ts'),
  'telemetry/loss-curve': () => import('../telemetry/sinks/loss-curve.ts'),
  'backend/gpujs': () => import('../backends/gpujs/plugin.ts'),
  backend: () => import('../backends/plugin.ts'),
};

export interface BuildRecipeOptions {
  /** Folder that relative module paths resolve against (default: the working directory). */
  baseDir?: string;
  /** The container the run's child is made from (default: the root). */
  parent?: PluginContainer;
  /** More named plugins (a project's own built-ins), merged over builtinPlugins. */
  builtins?: Readonly<Record<string, () => Promise<PluginModule>>>;
}

function checkConfig(config: unknown): asserts config is RecipeConfig {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new PluginError('recipe config must be a JSON object');
  const plugins = (config as { plugins?: unknown }).plugins;
  if (!Array.isArray(plugins)) throw new PluginError('recipe config needs a "plugins" array');
  plugins.forEach((p: unknown, i) => {
    if (typeof p !== 'object' || p === null) throw new PluginError(`recipe config: plugins[${i}] must be an object`);
    const { module, use, options } = p as PluginEntry;
    if ((module === undefined) === (use === undefined)) throw new PluginError(`recipe config: plugins[${i}] needs exactly one of "module" or "use"`);
    if (options !== undefined && (typeof options !== 'object' || options === null || Array.isArray(options))) {
      throw new PluginError(`recipe config: plugins[${i}].options must be an object`);
    }
  });
  const select = (config as { select?: unknown }).select;
  if (select !== undefined && (typeof select !== 'object' || select === null)) throw new PluginError('recipe config: "select" must be an object of kind -> name');
}

/** Imports a plugin module and checks that it exports register(). */
export async function loadPlugin(entry: PluginEntry, options: BuildRecipeOptions = {}): Promise<PluginModule> {
  const builtins = { ...builtinPlugins, ...options.builtins };
  let mod: unknown;
  let label: string;
  if (entry.use !== undefined) {
    const loader = builtins[entry.use];
    if (!loader) throw new PluginError(`no built-in plugin '${entry.use}'; built-ins: ${Object.keys(builtins).sort().join(', ')}`);
    label = entry.use;
    mod = await loader();
  } else {
    const spec = entry.module!;
    const isPath = spec.startsWith('.') || isAbsolute(spec);
    const target = isPath ? pathToFileURL(resolvePath(options.baseDir ?? process.cwd(), spec)).href : spec;
    label = spec;
    try {
      mod = await import(target);
    } catch (e) {
      throw new PluginError(`could not import plugin '${spec}'${isPath ? ` (${target})` : ''}: ${(e as Error).message}`);
    }
  }
  const register = (mod as { register?: unknown }).register;
  if (typeof register !== 'function') {
    throw new PluginError(`plugin '${label}' does not export a register(container, options) function (exports: ${Object.keys(mod as object).join(', ') || 'none'})`);
  }
  return mod as PluginModule;
}

/** Builds a run container from a config: loads and registers every plugin in order, then applies `select`. */
export async function buildRecipe(config: RecipeConfig, options: BuildRecipeOptions = {}): Promise<PluginContainer> {
  checkConfig(config);
  const run = createRunContainer(options.parent ?? rootContainer);
  for (const entry of config.plugins) {
    const plugin = await loadPlugin(entry, options);
    await plugin.register(run, entry.options ?? {}, { baseDir: options.baseDir ?? process.cwd() });
  }
  for (const [kind, name] of Object.entries(config.select ?? {})) {
    const token = (TOKENS as Record<string, (typeof TOKENS)[keyof typeof TOKENS]>)[kind];
    if (!token) throw new PluginError(`recipe config: "select" names an unknown kind '${kind}'; kinds: ${Object.keys(TOKENS).join(', ')}`);
    run.select(token, name);
  }
  return run;
}

/** Reads a JSON recipe file and builds it; relative module paths resolve against the file's folder. */
export async function buildRecipeFile(path: string, options: Omit<BuildRecipeOptions, 'baseDir'> = {}): Promise<{ config: RecipeConfig; container: PluginContainer }> {
  let config: unknown;
  try {
    config = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new PluginError(`could not read recipe config ${path}: ${(e as Error).message}`);
  }
  checkConfig(config);
  return { config, container: await buildRecipe(config, { ...options, baseDir: dirname(resolvePath(path)) }) };
}
