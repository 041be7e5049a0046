/** The loss curve of a run as an SVG chart, rasterised to PNG with sharp when the run ends. */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve as resolvePath } from 'node:path';
import type { Observable, Subscription } from 'rxjs';
import sharp from 'sharp';
import { writeFileAtomic } from '../../io/atomic.ts';
import { PluginError, type PluginContainer } from '../../plugins/container.ts';
import { TOKENS } from '../../plugins/tokens.ts';
import type { TrainingEvent } from '../events.ts';
import { smoothLoss } from '../operators.ts';
import type { TelemetrySink } from '../sink.ts';
import type { PluginContext } from '../../plugins/recipe.ts';

export type LossCurveSinkOptions = {
  name?: string;
  /** The PNG file to write. */
  path: string;
  /** Also keep the SVG source here. */
  svgPath?: string;
  width?: number;
  height?: number;
  /** EMA factor of the smoothed line (default 0.9). */
  beta?: number;
  /** Plot log10(loss) (default false). */
  logScale?: boolean;
  /**
   * A JSONL log of earlier runs (the jsonl sink's file): when a run resumes from step S, the
   * logged losses of steps up to S are drawn before its own, so the curve covers the whole run.
   */
  history?: string;
};

export interface CurvePoint {
  step: number;
  loss: number;
  smoothed: number;
}

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** An SVG line chart of raw (light) and smoothed (dark) loss against step. */
export function lossCurveSvg(points: readonly CurvePoint[], options: { width?: number; height?: number; logScale?: boolean; title?: string } = {}): string {
  const W = options.width ?? 640;
  const H = options.height ?? 360;
  const m = { left: 64, right: 16, top: 32, bottom: 40 };
  const f = (v: number) => (options.logScale ? Math.log10(Math.max(v, 1e-12)) : v);
  const finite = points.filter((p) => Number.isFinite(p.loss));
  const ys = finite.flatMap((p) => [f(p.loss), ...(Number.isFinite(p.smoothed) ? [f(p.smoothed)] : [])]);
  const x0 = finite.length ? finite[0]!.step : 0;
  const x1 = finite.length ? finite.at(-1)!.step : 1;
  let y0 = ys.length ? Math.min(...ys) : 0;
  let y1 = ys.length ? Math.max(...ys) : 1;
  if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
  const sx = (x: number) => m.left + ((x - x0) / Math.max(x1 - x0, 1)) * (W - m.left - m.right);
  const sy = (y: number) => H - m.bottom - ((y - y0) / (y1 - y0)) * (H - m.top - m.bottom);
  const line = (sel: (p: CurvePoint) => number) =>
    finite.filter((p) => Number.isFinite(sel(p))).map((p) => `${sx(p.step).toFixed(1)},${sy(f(sel(p))).toFixed(1)}`).join(' ');
  const label = (v: number) => (options.logScale ? `1e${v.toFixed(1)}` : v.toPrecision(3));
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => y0 + t * (y1 - y0));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" font-family="sans-serif" font-size="14" text-anchor="middle">${esc(options.title ?? 'training loss')}</text>`,
    ...ticks.map((t) => `<line x1="${m.left}" x2="${W - m.right}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e5e5e5"/><text x="${m.left - 6}" y="${(sy(t) + 4).toFixed(1)}" font-family="sans-serif" font-size="11" text-anchor="end">${label(t)}</text>`),
    `<line x1="${m.left}" y1="${H - m.bottom}" x2="${W - m.right}" y2="${H - m.bottom}" stroke="black"/>`,
    `<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${H - m.bottom}" stroke="black"/>`,
    `<text x="${m.left}" y="${H - 12}" font-family="sans-serif" font-size="11">step ${x0}</text>`,
    `<text x="${W - m.right}" y="${H - 12}" font-family="sans-serif" font-size="11" text-anchor="end">step ${x1}</text>`,
    finite.length ? `<polyline fill="none" stroke="#9ecae1" stroke-width="1" points="${line((p) => p.loss)}"/>` : '',
    finite.length ? `<polyline fill="none" stroke="#08519c" stroke-width="2" points="${line((p) => p.smoothed)}"/>` : '',
    '</svg>',
  ].join('\n');
}

/** The step losses of a JSONL log up to `upTo` (the last logged value of a step wins), smoothed like the live curve. */
function loggedPoints(path: string, upTo: number, beta: number): CurvePoint[] {
  if (!existsSync(path)) return [];
  const losses = new Map<number, number>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { type?: string; step?: number; loss?: number | string };
      if (e.type === 'step' && typeof e.step === 'number' && e.step <= upTo) losses.set(e.step, Number(e.loss));
    } catch {
      // a torn last line of a killed run: skip it
    }
  }
  let m = 0;
  let n = 0;
  return [...losses].sort((a, b) => a[0] - b[0]).map(([step, loss]) => {
    if (Number.isFinite(loss)) {
      m = beta * m + (1 - beta) * loss;
      n += 1;
    }
    return { step, loss, smoothed: n ? m / (1 - beta ** n) : NaN };
  });
}

export class LossCurveSink implements TelemetrySink {
  readonly name: string;
  readonly points: CurvePoint[] = [];
  private sub: Subscription | null = null;
  private title = 'training loss';

  constructor(private readonly options: LossCurveSinkOptions) {
    if (!options || typeof options.path !== 'string' || !options.path) throw new PluginError('telemetry/loss-curve: option "path" (the PNG file) is required');
    this.name = options.name ?? 'loss-curve';
  }

  attach(events: Observable<TrainingEvent>): void {
    this.sub = events.pipe(smoothLoss(this.options.beta ?? 0.9)).subscribe((s) => this.points.push({ step: s.step, loss: s.loss, smoothed: s.smoothedLoss }));
    const runSub = events.subscribe((e) => {
      if (e.type !== 'run_start') return;
      this.title = `training loss (${e.runId})`;
      if (e.resumedFrom && this.options.history) this.points.unshift(...loggedPoints(this.options.history, e.resumedFrom.step, this.options.beta ?? 0.9));
    });
    this.sub.add(runSub);
  }

  /** Renders the PNG (and the SVG when asked) from the points seen so far. */
  async render(): Promise<void> {
    const svg = lossCurveSvg(this.points, { width: this.options.width, height: this.options.height, logScale: this.options.logScale, title: this.title });
    const png = await sharp(Buffer.from(svg)).png().toBuffer();
    await mkdir(dirname(this.options.path), { recursive: true });
    await writeFileAtomic(this.options.path, png);
    if (this.options.svgPath) {
      await mkdir(dirname(this.options.svgPath), { recursive: true });
      await writeFileAtomic(this.options.svgPath, new TextEncoder().encode(svg));
    }
  }

  async close(): Promise<void> {
    this.sub?.unsubscribe();
    await this.render();
  }
}

/** Plugin entry: registers a loss-curve sink writing options.path (relative: to the recipe's folder). */
export function register(container: PluginContainer, options: LossCurveSinkOptions, context?: PluginContext): void {
  // a relative path in a recipe resolves against the recipe's folder, like its module paths
  const path = typeof options.path === 'string' && context ? resolvePath(context.baseDir, options.path) : options.path;
  const sink = new LossCurveSink({ ...options, path });
  container.register(TOKENS.TelemetrySink, sink.name, { useValue: sink });
}
