/** A JSON-lines log of every event: one object per line, appended as the run goes. */
import { type WriteStream, createWriteStream, mkdirSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Observable, Subscription } from 'rxjs';
import { PluginError, type PluginContainer } from '../../plugins/container.ts';
import { TOKENS } from '../../plugins/tokens.ts';
import type { TrainingEvent } from '../events.ts';
import type { TelemetrySink } from '../sink.ts';
import type { PluginContext } from '../../plugins/recipe.ts';

export type JsonlSinkOptions = {
  name?: string;
  /** The log file (its folder is created). */
  path: string;
};

export class JsonlSink implements TelemetrySink {
  readonly name: string;
  private out: WriteStream | null = null;
  private sub: Subscription | null = null;
  /** A write error, kept for close() (an unhandled stream 'error' would kill the process). */
  private failure: Error | null = null;

  constructor(private readonly options: JsonlSinkOptions) {
    if (!options || typeof options.path !== 'string' || !options.path) throw new PluginError('telemetry/jsonl: option "path" (the log file) is required');
    this.name = options.name ?? 'jsonl';
  }

  attach(events: Observable<TrainingEvent>): void {
    mkdirSync(dirname(this.options.path), { recursive: true });
    this.out = createWriteStream(this.options.path, { flags: 'a' });
    this.out.on('error', (e) => {
      this.failure ??= e;
      this.sub?.unsubscribe();
    });
    // NaN and Infinity are not JSON: they are written as strings so a bad loss stays visible.
    const replacer = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);
    this.sub = events.subscribe((e) => this.out?.write(`${JSON.stringify(e, replacer)}\n`));
  }

  async close(): Promise<void> {
    this.sub?.unsubscribe();
    const out = this.out;
    this.out = null;
    if (out && !this.failure) await new Promise<void>((resolve) => out.end(() => resolve()));
    if (this.failure) throw new PluginError(`telemetry/jsonl: cannot write the log ${this.options.path}: ${this.failure.message}`);
  }
}

/** Plugin entry: registers a JSONL sink writing to options.path (relative: to the recipe's folder). */
export function register(container: PluginContainer, options: JsonlSinkOptions, context?: PluginContext): void {
  // a relative path in a recipe resolves against the recipe's folder, like its module paths
  const path = typeof options.path === 'string' && context ? resolvePath(context.baseDir, options.path) : options.path;
  const sink = new JsonlSink({ ...options, path });
  container.register(TOKENS.TelemetrySink, sink.name, { useValue: sink });
}
