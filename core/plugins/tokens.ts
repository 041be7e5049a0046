/**
 * Typed injection tokens, one per plugin kind. A recipe asks the container for a token,
 * never for a concrete class; a plugin registers its implementation under one.
 * The diffusion kinds are typed by the small structural contracts in diffusion-types.ts, which
 * the plugins satisfy without core importing them; the container (container.ts) lists
 * registrations by kind name.
 */
import type { InjectionToken } from 'tsyringe';
import type { Backend } from '../backend.ts';
import type { TelemetryBus } from '../telemetry/bus.ts';
import type { TelemetrySink } from '../telemetry/sink.ts';
import type {
  AdapterProvider, DiffusionControlNet, DiffusionSampler, DiffusionTextEncoder, DiffusionUNet, DiffusionVae, NoiseSchedulerFactory,
} from './diffusion-types.ts';

export type { TelemetrySink };

/** An image on the host: height x width x channels, row-major (HWC), values in [0, 1]. */
export interface Image {
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  readonly data: Float32Array;
}

/** Turns a lighting map and a segmentation map into one condition image. */
export interface ConditionBlender {
  /** The name a config uses to pick this blender (`alpha`, `multiply`, ...). */
  readonly name: string;
  blend(lighting: Image, segmentation: Image, options?: Readonly<Record<string, unknown>>): Image;
}

/** Derives a condition image from a picture (edges, depth, ...). */
export interface ConditionExtractor {
  readonly name: string;
  extract(image: Image, options?: Readonly<Record<string, unknown>>): Image;
}

/** Random access to samples (loaded lazily: images are read when asked for). */
export interface Dataset<T = unknown> {
  readonly name: string;
  readonly length: number;
  get(index: number): Promise<T>;
}

export const TOKENS = {
  Backend: Symbol('Backend') as InjectionToken<Backend>,
  VAE: Symbol('VAE') as InjectionToken<DiffusionVae>,
  UNet: Symbol('UNet') as InjectionToken<DiffusionUNet>,
  TextEncoder: Symbol('TextEncoder') as InjectionToken<DiffusionTextEncoder>,
  ControlNet: Symbol('ControlNet') as InjectionToken<DiffusionControlNet>,
  Adapter: Symbol('Adapter') as InjectionToken<AdapterProvider>,
  NoiseScheduler: Symbol('NoiseScheduler') as InjectionToken<NoiseSchedulerFactory>,
  Sampler: Symbol('Sampler') as InjectionToken<DiffusionSampler>,
  ConditionBlender: Symbol('ConditionBlender') as InjectionToken<ConditionBlender>,
  ConditionExtractor: Symbol('ConditionExtractor') as InjectionToken<ConditionExtractor>,
  Dataset: Symbol('Dataset') as InjectionToken<Dataset>,
  TelemetrySink: Symbol('TelemetrySink') as InjectionToken<TelemetrySink>,
  /** The run's event bus (one per run container): trainers emit into it, sinks attach to it. */
  TelemetryBus: Symbol('TelemetryBus') as InjectionToken<TelemetryBus>,
} as const;

export type TokenKind = keyof typeof TOKENS;

/** The kind name of a token (`ConditionBlender`), for error messages and config files. */
export function tokenKind(token: InjectionToken<unknown>): string {
  for (const [kind, t] of Object.entries(TOKENS)) if (t === token) return kind;
  if (typeof token === 'symbol') return token.description ?? token.toString();
  if (typeof token === 'function') return token.name;
  return String(token);
}
