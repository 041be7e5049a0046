/** Training telemetry: typed RxJS events, pure operators, and sinks (each a plugin). */
export * from './events.ts';
export { TelemetryBus, type TelemetryBusOptions, type StepReport } from './bus.ts';
export { steps, ema, smoothLoss, throughput, eta, formatDuration, type SmoothedStep, type Throughput, type Eta } from './operators.ts';
export type { TelemetrySink } from './sink.ts';
export { startTelemetry, type RunTelemetry } from './run.ts';
export { ProgressSink, type ProgressSinkOptions } from './sinks/progress.ts';
export { JsonlSink, type JsonlSinkOptions } from './sinks/jsonl.ts';
export { LossCurveSink, lossCurveSvg, type LossCurveSinkOptions, type CurvePoint } from './sinks/loss-curve.ts';
