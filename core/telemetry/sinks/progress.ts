/** A terminal progress bar (cli-progress) with smoothed loss, lr, throughput and ETA. */
import cliProgress from 'cli-progress';
import type { Observable, Subscription } from 'rxjs';
import type { PluginContainer } from '../../plugins/container.ts';
import { TOKENS } from '../../plugins/tokens.ts';
import type { TrainingEvent } from '../events.ts';
import { formatDuration, smoothLoss, eta as etaOp } from '../operators.ts';
import type { TelemetrySink } from '../sink.ts';

export type ProgressSinkOptions = {
  name?: string;
  /** EMA factor for the shown loss (default 0.9). */
  beta?: number;
  /** Where the bar is drawn (default process.stderr). */
  stream?: NodeJS.WritableStream;
  /** Draw even when the stream is not a terminal (default false: a log file stays clean). */
  forceOutput?: boolean;
};

export class ProgressSink implements TelemetrySink {
  readonly name: string;
  private bar: cliProgress.SingleBar | null = null;
  private subs: Subscription[] = [];
  /** The bar's current text fields (kept to redraw it after a warning). */
  private fields = { loss: '--', lr: '--', speed: '--', etaText: '--' };
  /** The last line of values shown (tests and logs read it). */
  lastPayload: { step: number; total: number; loss: string; lr: string; eta: string } | null = null;

  constructor(private readonly options: ProgressSinkOptions = {}) {
    this.name = options.name ?? 'progress';
  }

  attach(events: Observable<TrainingEvent>): void {
    this.subs.push(events.subscribe((e) => {
      if (e.type === 'run_start') {
        this.bar = new cliProgress.SingleBar({
          format: '{bar} {percentage}% | step {value}/{total} | loss {loss} | lr {lr} | {speed} | ETA {etaText}',
          stream: this.options.stream ?? process.stderr,
          noTTYOutput: this.options.forceOutput ?? false,
          hideCursor: false,
          clearOnComplete: false,
        }, cliProgress.Presets.shades_classic);
        this.bar.start(e.totalSteps ?? 0, e.resumedFrom?.step ?? 0, this.fields); // a resumed run starts where it stopped
      } else if (e.type === 'warning') {
        // Print the warning on its own line, then redraw the bar below it where it was.
        const bar = this.bar;
        const at = bar ? bar.getProgress() * bar.getTotal() : 0;
        bar?.stop();
        (this.options.stream ?? process.stderr).write(`warning: ${e.message}\n`);
        if (bar) {
          bar.start(bar.getTotal(), Math.round(at), this.fields);
        }
      } else if (e.type === 'run_end') {
        this.bar?.stop();
      }
    }));
    const smoothed = events.pipe(smoothLoss(this.options.beta ?? 0.9));
    const eta = events.pipe(etaOp());
    let etaText = '--';
    this.subs.push(eta.subscribe((x) => { etaText = formatDuration(x.etaMs); }));
    this.subs.push(smoothed.subscribe((s) => {
      const total = s.totalSteps ?? Math.max(s.step, 1);
      this.lastPayload = { step: s.step, total, loss: s.smoothedLoss.toPrecision(4), lr: s.lr.toExponential(2), eta: etaText };
      if (this.bar) {
        this.bar.setTotal(total);
        this.fields = { loss: this.lastPayload.loss, lr: this.lastPayload.lr, speed: `${s.samplesPerSec.toFixed(1)} samples/s`, etaText };
        this.bar.update(s.step, this.fields);
      }
    }));
  }

  async close(): Promise<void> {
    this.bar?.stop();
    for (const s of this.subs) s.unsubscribe();
    this.subs = [];
  }
}

/** Plugin entry: registers a progress bar sink. */
export function register(container: PluginContainer, options: ProgressSinkOptions = {}): void {
  container.register(TOKENS.TelemetrySink, options.name ?? 'progress', { useFactory: () => new ProgressSink(options) });
}
