/** Wiring a run's telemetry: one bus per run container, every registered sink attached to it. */
import type { PluginContainer } from '../plugins/container.ts';
import { TOKENS } from '../plugins/tokens.ts';
import { TelemetryBus, type TelemetryBusOptions } from './bus.ts';
import type { TelemetrySink } from './sink.ts';

export interface RunTelemetry {
  bus: TelemetryBus;
  sinks: TelemetrySink[];
  /** Ends the run (if not ended) and waits for every sink to finish writing. */
  close(status?: 'completed' | 'failed' | 'stopped', error?: unknown): Promise<void>;
}

/**
 * Creates the run's bus, registers it in the container (TOKENS.TelemetryBus) and attaches
 * every TelemetrySink registered there. Call before emitting run_start.
 */
export function startTelemetry(container: PluginContainer, options: TelemetryBusOptions = {}): RunTelemetry {
  const bus = new TelemetryBus(options);
  container.register(TOKENS.TelemetryBus, 'bus', { useValue: bus });
  const sinks = container.resolveAll(TOKENS.TelemetrySink);
  for (const s of sinks) s.attach(bus.events$);
  return {
    bus,
    sinks,
    async close(status = 'completed', error?: unknown) {
      bus.end(status, error);
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}
