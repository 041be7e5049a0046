/** The plugin system: typed tokens, the container, and recipes built from JSON configs. */
export * from './tokens.ts';
export type * from './diffusion-types.ts';
export { inject, injectable, PluginContainer, PluginError, rootContainer, createRunContainer, type Provider } from './container.ts';
export { buildRecipe, buildRecipeFile, recipePath, loadPlugin, builtinPlugins, type PluginModule, type PluginEntry, type PluginOptions, type PluginContext, type RecipeConfig, type BuildRecipeOptions } from './recipe.ts';
export { provide, isProvided, resolveOne, resolveOptional, resolveEvery, resolveNamed, checkOptionKeys, type AnyContainer } from './any-container.ts';
