/**
 * npm run soak: a long training run of a tiny conv net (conv 3x3 -> group norm -> SiLU ->
 * conv 3x3, mean-squared error, AdamW) on each backend, sampling the JS heap (after a forced
 * GC), the process RSS and the backend's live storages every few hundred steps. Every step
 * is wrapped in core tidy(), so a backend with scoped release hands each step's storages
 * back; the run passes when nothing grows after warm-up (a leak of one small tensor a step
 * shows up as megabytes over 10,000 steps).
 *
 *   npm run soak                                  10,000 steps on reference and native
 *   npm run soak -- --steps 2000 --backends reference
 *   npm run soak -- --json runs/soak.json         also write every sample
 *
 * The native backend (core/backends/native) is imported lazily: where it is not built or
 * not present it is skipped with a note, and the soak still passes on the others.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import os from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import {
  AdamW, type Backend, Conv2d, GroupNorm, ReferenceBackend, Sequential, SiLU, mseLoss, randn, tidy, withBackend,
} from '../../core/index.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Sample {
  step: number;
  loss: number;
  heapMB: number;
  rssMB: number;
  liveStorages: number | null;
  seconds: number;
}

interface SoakResult {
  backend: string;
  steps: number;
  samples: Sample[];
  /** Growth from the first sample after warm-up to the last. */
  heapGrowthMB: number;
  rssGrowthMB: number;
  liveGrowth: number | null;
  flat: boolean;
  lossFirst: number;
  lossLast: number;
}

/** Allowed growth after warm-up: far below what a leaked 2x8x8x8 activation a step (20 MB at 10 k steps) would add. */
const HEAP_SLACK_MB = 2;
const RSS_SLACK_MB = 24;

const mb = (bytes: number) => bytes / 2 ** 20;

function liveStorages(backend: Backend): number | null {
  const stats = (backend as { stats?: { liveStorages?: unknown } }).stats;
  return typeof stats?.liveStorages === 'number' ? stats.liveStorages : null;
}

function soak(backend: Backend, steps: number, every: number, log: (line: string) => void): SoakResult {
  return withBackend(backend, () => {
    const net = new Sequential(
      new Conv2d(3, 8, 3, { padding: 1, seed: 1 }), new GroupNorm(2, 8), new SiLU(), new Conv2d(8, 3, 3, { padding: 1, seed: 3 }),
    );
    const x = randn([2, 3, 8, 8], { seed: 4 });
    const y = randn([2, 3, 8, 8], { seed: 5 }).mul(0.5);
    const optimizer = new AdamW(net.parameters(), { lr: 1e-3 });
    const samples: Sample[] = [];
    const started = performance.now();
    let loss = NaN;
    for (let step = 1; step <= steps; step++) {
      loss = tidy(() => {
        optimizer.zeroGrad();
        const l = mseLoss(net.forward(x), y);
        l.backward();
        optimizer.step();
        return l.item();
      }, backend);
      if (!Number.isFinite(loss)) throw new Error(`soak ${backend.name}: loss is ${loss} at step ${step}`);
      if (step % every === 0 || step === 1) {
        gc();
        const m = process.memoryUsage();
        const seconds = (performance.now() - started) / 1000;
        const s: Sample = { step, loss, heapMB: mb(m.heapUsed), rssMB: mb(m.rss), liveStorages: liveStorages(backend), seconds };
        samples.push(s);
        const eta = step === steps ? 0 : (seconds / step) * (steps - step);
        log(`  ${backend.name} step ${String(step).padStart(6)}/${steps}  loss ${loss.toExponential(3)}  heap ${s.heapMB.toFixed(1)} MB  rss ${s.rssMB.toFixed(1)} MB` +
          `${s.liveStorages === null ? '' : `  live storages ${s.liveStorages}`}  ${seconds.toFixed(0)} s, ETA ${eta.toFixed(0)} s`);
      }
    }
    // Warm-up: the first tenth (kernels, pools and the optimiser's moments come to their size).
    const base = samples.find((s) => s.step >= steps / 10) ?? samples[0]!;
    const last = samples.at(-1)!;
    const heapGrowthMB = last.heapMB - base.heapMB;
    const rssGrowthMB = last.rssMB - base.rssMB;
    const liveGrowth = last.liveStorages === null || base.liveStorages === null ? null : last.liveStorages - base.liveStorages;
    return {
      backend: backend.name, steps, samples, heapGrowthMB, rssGrowthMB, liveGrowth,
      flat: heapGrowthMB < HEAP_SLACK_MB && rssGrowthMB < RSS_SLACK_MB && (liveGrowth ?? 0) <= 0,
      lossFirst: samples[0]!.loss, lossLast: last.loss,
    };
  });
}

/** The native backend when this checkout has it and its addon loads; else why not. */
async function nativeBackend(): Promise<Backend | string> {
  const path = '../../core/backends/native/index.ts'; // a variable: the module may not exist in this checkout
  let mod: { NativeBackend: new () => Backend; nativeStatus: () => { available: boolean; reason?: string } };
  try {
    mod = await import(path);
  } catch (e) {
    return `core/backends/native is not in this checkout (${(e as Error).message.split('\n')[0]})`;
  }
  const status = mod.nativeStatus();
  if (!status.available) return `its addon is not built here: ${status.reason ?? 'unknown reason'}`;
  return new mod.NativeBackend();
}

const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be an integer >= 1');
  return n;
};

const program = new Command()
  .name('npm run soak --')
  .description('Train a tiny conv net for many steps on each backend, sampling heap, RSS and live storages; fail if any grows after warm-up.')
  .option('--steps <n>', 'training steps per backend', positive, 10_000)
  .option('--every <n>', 'sample every n steps', positive, 500)
  .option('--backends <list>', 'comma-separated: reference, native', 'reference,native')
  .option('--json <file>', 'also write every sample and the verdicts as JSON')
  .action(async (o: { steps: number; every: number; backends: string; json?: string }) => {
    const names = o.backends.split(',').map((s) => s.trim()).filter(Boolean);
    for (const n of names) if (n !== 'reference' && n !== 'native') throw new InvalidArgumentError(`unknown backend '${n}' (reference, native)`);
    console.log(`soak: ${o.steps} steps per backend, sampled every ${o.every}; node ${process.version}, ${os.availableParallelism()} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    const results: SoakResult[] = [];
    const skipped: { backend: string; reason: string }[] = [];
    for (const name of names) {
      const backend = name === 'reference' ? new ReferenceBackend() : await nativeBackend();
      if (typeof backend === 'string') {
        skipped.push({ backend: name, reason: backend });
        console.log(`  ${name}: skipped, ${backend}`);
        continue;
      }
      results.push(soak(backend, o.steps, o.every, (line) => console.log(line)));
    }
    console.log('\nbackend      steps  loss first -> last      heap growth  rss growth  live storages  verdict');
    for (const r of results) {
      console.log(`${r.backend.padEnd(12)} ${String(r.steps).padStart(6)}  ${r.lossFirst.toExponential(2)} -> ${r.lossLast.toExponential(2)}  ` +
        `${r.heapGrowthMB.toFixed(2).padStart(8)} MB  ${r.rssGrowthMB.toFixed(1).padStart(7)} MB  ${String(r.liveGrowth ?? 'n/a').padStart(13)}  ${r.flat ? 'flat' : 'GROWS'}`);
    }
    for (const s of skipped) console.log(`${s.backend.padEnd(12)} skipped: ${s.reason}`);
    console.log(`(growth from step ${Math.ceil(o.steps / 10)} to the end; allowed: heap < ${HEAP_SLACK_MB} MB, RSS < ${RSS_SLACK_MB} MB, live storages none)`);
    if (o.json) {
      await mkdir(dirname(o.json), { recursive: true });
      await writeFile(o.json, JSON.stringify({ steps: o.steps, every: o.every, load: os.loadavg(), results, skipped }, null, 2) + '\n');
    }
    if (results.some((r) => !r.flat)) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`soak: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
