/**
 * The schedulers plugin: `register(container)` puts one NoiseSchedulerPlugin entry per
 * scheduler under TOKENS.NoiseScheduler. Schedulers carry per-run state (timesteps, step
 * index, DPM-Solver's history), so the container holds factories and a recipe creates a
 * fresh scheduler per run, by name or from a diffusers scheduler_config.json.
 */
import { ArgumentError } from '../../core/index.ts';
import { type AnyContainer, provide, resolveEvery } from '../../core/plugins/any-container.ts';
import { TOKENS } from '../../core/plugins/tokens.ts';
import { ddimPlugin } from './ddim.ts';
import { ddpmPlugin } from './ddpm.ts';
import { dpmSolverMultistepPlugin } from './dpm-solver-multistep.ts';
import { eulerPlugin } from './euler-discrete.ts';
import type { BaseSchedulerConfig, NoiseScheduler, NoiseSchedulerPlugin } from './types.ts';

export * from './types.ts';
export { DDPMScheduler, DDPM_DEFAULTS, ddpmPlugin, type DDPMConfig, type DDPMVarianceType } from './ddpm.ts';
export { DDIMScheduler, DDIM_DEFAULTS, ddimPlugin, type DDIMConfig } from './ddim.ts';
export { EulerDiscreteScheduler, EULER_DEFAULTS, eulerPlugin, type EulerDiscreteConfig } from './euler-discrete.ts';
export { DPMSolverMultistepScheduler, DPM_DEFAULTS, dpmSolverMultistepPlugin, type DPMSolverMultistepConfig } from './dpm-solver-multistep.ts';
export { DiscreteScheduler } from './base.ts';
export { makeBetas, alphasCumprodOf, rescaleZeroTerminalSnr, squaredCosCapV2Betas } from './betas.ts';

/** Every scheduler this plugin provides. */
export const schedulerPlugins: readonly NoiseSchedulerPlugin<BaseSchedulerConfig>[] = [
  ddpmPlugin as NoiseSchedulerPlugin<BaseSchedulerConfig>,
  ddimPlugin as NoiseSchedulerPlugin<BaseSchedulerConfig>,
  eulerPlugin as NoiseSchedulerPlugin<BaseSchedulerConfig>,
  dpmSolverMultistepPlugin as NoiseSchedulerPlugin<BaseSchedulerConfig>,
];

/**
 * Puts every scheduler under TOKENS.NoiseScheduler: in a plain tsyringe container, or in the
 * framework's PluginContainer under its name (so a recipe can load this module with
 * `{ "module": "./plugins/schedulers/index.ts" }` and `"select": { "NoiseScheduler": "ddim" }`).
 */
export function register(container: AnyContainer): void {
  for (const plugin of schedulerPlugins) provide(container, TOKENS.NoiseScheduler, plugin.name, () => plugin);
}

/** The scheduler plugins registered in a container (all of them, not only the last). */
export function registeredSchedulers(container: AnyContainer): NoiseSchedulerPlugin[] {
  return resolveEvery(container, TOKENS.NoiseScheduler) as NoiseSchedulerPlugin[];
}

/** Finds a plugin (or any scheduler factory) by its name or a diffusers class name. */
export function findScheduler<P extends Pick<NoiseSchedulerPlugin, 'name' | 'diffusersClassNames'>>(plugins: readonly P[], name: string): P {
  const hit = plugins.find((p) => p.name === name || p.diffusersClassNames.includes(name));
  if (!hit) {
    throw new ArgumentError(`schedulers: no scheduler named '${name}' (registered: ${plugins.map((p) => `${p.name} (${p.diffusersClassNames.join(', ')})`).join(', ') || 'none'})`);
  }
  return hit;
}

/** A fresh scheduler from a container by name, with camelCase options. */
export function createScheduler(container: AnyContainer, name: string, config?: Partial<BaseSchedulerConfig> & Record<string, unknown>): NoiseScheduler {
  return findScheduler(registeredSchedulers(container), name).create(config);
}

/**
 * A fresh scheduler from a diffusers scheduler_config.json object. The class is `name` when
 * given (to swap samplers, as `DDIMScheduler.from_config(pipe.scheduler.config)` does),
 * else the json's `_class_name`.
 */
export function schedulerFromDiffusersConfig(
  json: Readonly<Record<string, unknown>>,
  name?: string,
  plugins: readonly NoiseSchedulerPlugin[] = schedulerPlugins,
): NoiseScheduler {
  const which = name ?? (typeof json._class_name === 'string' ? json._class_name : undefined);
  if (!which) throw new ArgumentError('schedulerFromDiffusersConfig: the config has no _class_name; pass the scheduler name');
  return findScheduler(plugins, which).fromDiffusersConfig(json);
}
