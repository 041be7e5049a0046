/**
 * Scheduler configs: defaults merged with the user's camelCase options, validated with
 * messages that name the scheduler and the option, and the mapping from diffusers'
 * snake_case `scheduler_config.json` keys.
 */
import { ArgumentError } from '../../core/index.ts';
import type { BaseSchedulerConfig } from './types.ts';

export const BASE_DEFAULTS: Readonly<BaseSchedulerConfig> = Object.freeze({
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'leading',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
});

/** Allowed values of the string-valued options (any scheduler); others are checked by type. */
const ENUMS: Readonly<Record<string, readonly (string | null)[]>> = {
  betaSchedule: ['linear', 'scaled_linear', 'squaredcos_cap_v2', 'sigmoid'],
  predictionType: ['epsilon', 'v_prediction', 'sample'],
  timestepSpacing: ['leading', 'trailing', 'linspace'],
};

/** `num_train_timesteps` -> `numTrainTimesteps`. */
export function snakeToCamel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Merges options over defaults and checks every value against the default's type (and the
 * enum lists). Unknown option names are an error: a typo must not silently fall back.
 */
export function resolveConfig<C extends object>(
  scheduler: string,
  defaults: Readonly<C>,
  options: Partial<C> | undefined,
  extraEnums: Readonly<Record<string, readonly (string | null)[]>> = {},
): C {
  const out = { ...defaults } as Record<string, unknown>;
  const known = Object.keys(defaults);
  for (const [key, value] of Object.entries(options ?? {})) {
    if (!known.includes(key)) {
      throw new ArgumentError(`${scheduler}: unknown option '${key}' (known: ${known.join(', ')})`);
    }
    if (value === undefined) continue;
    const allowed = extraEnums[key] ?? ENUMS[key];
    const def = (defaults as Record<string, unknown>)[key];
    if (allowed) {
      if (!allowed.includes(value as string | null)) {
        throw new ArgumentError(`${scheduler}: option ${key} = ${JSON.stringify(value)} is not supported (use one of ${allowed.map((a) => JSON.stringify(a)).join(', ')})`);
      }
    } else if (key === 'trainedBetas') {
      if (value !== null && !(Array.isArray(value) && value.every((v) => typeof v === 'number'))) {
        throw new ArgumentError(`${scheduler}: option trainedBetas must be null or an array of numbers`);
      }
    } else if (def === null || typeof def === 'number') {
      if (value !== null && typeof value !== 'number') {
        throw new ArgumentError(`${scheduler}: option ${key} must be a number, got ${JSON.stringify(value)}`);
      }
      if (value === null && def !== null) throw new ArgumentError(`${scheduler}: option ${key} must be a number, got null`);
    } else if (typeof def !== typeof value) {
      throw new ArgumentError(`${scheduler}: option ${key} must be a ${typeof def}, got ${JSON.stringify(value)}`);
    }
    out[key] = value;
  }
  const c = out as unknown as BaseSchedulerConfig;
  if (!Number.isInteger(c.numTrainTimesteps) || c.numTrainTimesteps < 2) {
    throw new ArgumentError(`${scheduler}: numTrainTimesteps must be an integer >= 2, got ${c.numTrainTimesteps}`);
  }
  if (!Number.isInteger(c.stepsOffset) || c.stepsOffset < 0) {
    throw new ArgumentError(`${scheduler}: stepsOffset must be a non-negative integer, got ${c.stepsOffset}`);
  }
  if (!(c.betaStart >= 0 && c.betaEnd >= c.betaStart && c.betaEnd < 1)) {
    throw new ArgumentError(`${scheduler}: need 0 <= betaStart <= betaEnd < 1, got betaStart=${c.betaStart}, betaEnd=${c.betaEnd}`);
  }
  return out as C;
}

/**
 * Turns a diffusers scheduler_config.json object into camelCase options for `defaults`.
 * Like diffusers' from_config, keys this scheduler does not have (`skip_prk_steps` of PNDM,
 * `_class_name`, ...) are ignored; keys of known-but-unimplemented features
 * (`unsupported`) are an error unless they hold their neutral value.
 */
export function fromDiffusersKeys<C extends object>(
  scheduler: string,
  defaults: Readonly<C>,
  json: Readonly<Record<string, unknown>>,
  unsupported: Readonly<Record<string, unknown>> = {},
): Partial<C> {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ArgumentError(`${scheduler}.fromDiffusersConfig: expected the parsed scheduler_config.json object`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    if (key.startsWith('_')) continue;
    if (key in unsupported) {
      const neutral = unsupported[key];
      if (value !== neutral && value !== null && value !== undefined) {
        throw new ArgumentError(`${scheduler}.fromDiffusersConfig: ${key} = ${JSON.stringify(value)} is not implemented here (only ${JSON.stringify(neutral)})`);
      }
      continue;
    }
    const camel = snakeToCamel(key);
    if (!(camel in defaults)) continue;
    // Python writes float('-inf') / inf into JSON as -Infinity / Infinity; JSON.parse gives no
    // number for them, so accept the strings too.
    out[camel] = value === '-inf' || value === '-Infinity' ? -Infinity : value === 'inf' || value === 'Infinity' ? Infinity : value;
    // diffusers leaves optional numbers as null; our defaults say the same.
    if (value === null && (defaults as Record<string, unknown>)[camel] !== null) delete out[camel];
  }
  return out as Partial<C>;
}
