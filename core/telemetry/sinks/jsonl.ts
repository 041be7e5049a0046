/** A JSON-lines log of every event: one object per line, appended as the run goes. */
import { type WriteStream, createWriteStream, mkdirSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Observable, Subscription } from 'rxjs';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tempPathFor } from '../../io/atomic.ts';
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
    // NaN and Infinity are not JSON: they are written as strings so a bad loss stays visible.
    const replacer = (_k: string, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v);
    this.sub = events.subscribe((e) => {
      if (!this.out && !this.failure) this.open(e.type === 'run_start' ? e.resumedFrom?.step : undefined);
      this.out?.write(`${JSON.stringify(e, replacer)}\n`);
    });
  }

  /**
   * Opens the log for appending. A line without its newline at the end of the file is the torn
   * write of a killed run: it is dropped. A run resumed from step S also drops the log's events
   * of steps after S (the killed run logged them, the resumed run does them again), so the log
   * holds each step once.
   */
  private open(resumedStep: number | undefined): void {
    const path = this.options.path;
    try {
      if (existsSync(path)) {
        const text = readFileSync(path, 'utf8');
        const lines = text.split('\n');
        const torn = lines.pop() !== ''; // the piece after the last newline
        const kept = lines.filter((line) => {
          if (resumedStep === undefined || !line.trim()) return true;
          try {
            const step = (JSON.parse(line) as { step?: unknown }).step;
            return typeof step !== 'number' || step <= resumedStep;
          } catch {
            return true; // not ours to judge: keep it
          }
        });
        if (torn || kept.length !== lines.length) {
          const tmp = tempPathFor(path);
          writeFileSync(tmp, kept.map((l) => `${l}\n`).join(''));
          renameSync(tmp, path);
        }
      }
    } catch (e) {
      this.failure = e as Error;
      return;
    }
    this.out = createWriteStream(path, { flags: 'a' });
    this.out.on('error', (e) => {
      this.failure ??= e;
      this.sub?.unsubscribe();
    });
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
