/**
 * `npm run bench -- --only step`: the tiny ControlNet + LoRA training step (tiny-step.ts) on
 * each backend that runs here, batch 1 and 4, against PyTorch's torch_ref_step.py in the same
 * run (1 thread; 2 threads shown too), as ms/step and ratio = our ms / PyTorch 1-thread ms.
 * PyTorch is run before and after our rows of each batch and its two medians averaged, so load
 * that changes during the run weighs on both sides alike. On a shared machine wall time
 * depends on what else runs, so both sides are also timed in CPU time (PyTorch's script once
 * more with its step clock swapped for the process CPU clock): `cpuRatio` is the fairer
 * figure for single-thread rows when the machine is loaded.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Backend, chooseBackend, nativeAvailability, writeFileAtomic } from '../../core/index.ts';
import { buildTinyStep } from './tiny-step.ts';

export interface StepRow {
  backend: string;
  batch: number;
  /** Median ms of one step (forward, backward, AdamW, loss read back). */
  ms: number;
  /** PyTorch 1 thread, same batch, same run (null when PyTorch is not available). */
  torchMs: number | null;
  ratio: number | null;
  /** CPU ms of one step over all threads (median). */
  cpuMs: number;
  /** PyTorch 1 thread's CPU ms per step, and cpuMs / torchCpuMs. */
  torchCpuMs: number | null;
  cpuRatio: number | null;
  steps: number;
}

export interface StepBenchOptions {
  /** Backend specs, 'native@N' for native with N threads (default: every backend that runs here). */
  backends: string[] | null;
  batches: number[];
  /** Timed steps per row, after `warmup` untimed ones. */
  steps: number;
  warmup: number;
  json: string | null;
  torchScript: string;
}

const TORCH_SCRIPT = '../shared/bench/torch_ref_step.py';

export function defaultStepOptions(): StepBenchOptions {
  return { backends: null, batches: [1, 4], steps: 5, warmup: 2, json: null, torchScript: resolve(process.cwd(), TORCH_SCRIPT) };
}

/** The rows a default run measures: reference, gpu.js webasm, and native on 1 and 2 threads when built. */
async function defaultBackends(): Promise<string[]> {
  const list = ['reference', 'gpujs:webasm'];
  const native = await nativeAvailability();
  if (native.available) list.push('native@1', 'native@2');
  else console.log(`# native: skipped (${native.reason})`);
  return list;
}

async function makeBackend(label: string): Promise<Backend> {
  const [spec, threads] = label.split('@');
  const choice = await chooseBackend(spec!, threads ? { threads: Number(threads) } : {});
  return choice.backend;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function timeSteps(backend: Backend, batch: number, o: StepBenchOptions): { ms: number; cpuMs: number } {
  const bench = buildTinyStep(backend, batch);
  for (let i = 0; i < o.warmup; i++) bench.step(); // compiles kernels, warms pools and the JIT
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < o.steps; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const loss = bench.step();
    wall.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
    if (!Number.isFinite(loss)) throw new Error(`${backend.name}: the loss is ${loss} at timed step ${i}`);
  }
  return { ms: median(wall), cpuMs: median(cpu) };
}

/** A python3 that imports torch: $PYTHON, python3 on PATH, then Debian's /usr/bin/python3. */
function findTorchPython(): string | null {
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3']) {
    if (!py) continue;
    const r = spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  return null;
}

interface TorchResult {
  iter_ms_median: number;
}

/**
 * Runs torch_ref_step.py and returns its RESULT. clock 'cpu' runs it with time.perf_counter
 * replaced by time.process_time, so its step timings are CPU time of the whole process.
 */
function runTorch(python: string, script: string, batch: number, threads: number, clock: 'wall' | 'cpu' = 'wall'): TorchResult {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: String(threads) };
  // Debian's torch otherwise falls back to the slow reference BLAS (see the bench README).
  const openblas = '/usr/lib/x86_64-linux-gnu/openblas-pthread';
  if (existsSync(openblas)) env.LD_LIBRARY_PATH = [openblas, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  const args = ['--threads', String(threads), '--batch', String(batch)];
  const cpuClock = 'import runpy, sys, time; time.perf_counter = time.process_time; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name="__main__")';
  const argv = clock === 'wall' ? [script, ...args] : ['-c', cpuClock, script, ...args];
  const r = spawnSync(python, argv, { env, encoding: 'utf8' });
  const line = r.stdout?.split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`torch_ref_step.py failed (exit ${r.status}): ${(r.stderr || r.stdout || '').trim().split('\n').at(-1)}`);
  return JSON.parse(line.slice('RESULT '.length)) as TorchResult;
}

export async function runStepBench(o: StepBenchOptions): Promise<StepRow[]> {
  const labels = o.backends ?? (await defaultBackends());
  let python: string | null = null;
  if (!existsSync(o.torchScript)) console.log(`# PyTorch: skipped (no ${o.torchScript})`);
  else if (!(python = findTorchPython())) console.log('# PyTorch: skipped (no python3 here imports torch; Debian: apt-get install python3-torch libopenblas0-pthread)');
  else console.log(`# PyTorch: ${python} ${o.torchScript}`);
  console.log(`# tiny ControlNet + LoRA step (tests/bench/tiny-step.ts): ${o.warmup} untimed warm-up steps, median of ${o.steps}`);

  const rows: StepRow[] = [];
  const header = ['backend', 'batch', 'ms/step', 'x PyTorch 1 thread', 'CPU ms/step', 'CPU x PyTorch 1 thread'];
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const batch of o.batches) {
    const torch1: number[] = [];
    let torch2: number | null = null;
    if (python) {
      torch1.push(runTorch(python, o.torchScript, batch, 1).iter_ms_median);
      torch2 = runTorch(python, o.torchScript, batch, 2).iter_ms_median;
    }
    const ours: Omit<StepRow, 'torchMs' | 'ratio' | 'torchCpuMs' | 'cpuRatio'>[] = [];
    for (const label of labels) {
      let backend: Backend;
      try {
        backend = await makeBackend(label);
      } catch (e) {
        console.log(`| ${label} | ${batch} | not available: ${(e as Error).message.split('\n')[0]} | | | |`);
        continue;
      }
      try {
        const t = timeSteps(backend, batch, o);
        ours.push({ backend: label, batch, ms: t.ms, cpuMs: t.cpuMs, steps: o.steps });
      } catch (e) {
        console.log(`| ${label} | ${batch} | failed: ${(e as Error).message.split('\n')[0]} | | | |`);
      } finally {
        (backend as { destroy?: () => void }).destroy?.();
      }
    }
    let torchCpuMs: number | null = null;
    if (python) {
      torch1.push(runTorch(python, o.torchScript, batch, 1).iter_ms_median);
      torchCpuMs = runTorch(python, o.torchScript, batch, 1, 'cpu').iter_ms_median;
    }
    const torchMs = python ? (torch1[0]! + torch1[1]!) / 2 : null;
    if (torchMs !== null) {
      console.log(`| PyTorch 1 thread | ${batch} | ${torchMs.toFixed(1)} (${torch1.map((t) => t.toFixed(1)).join(', ')}) | 1.00 | ${torchCpuMs!.toFixed(1)} | 1.00 |`);
      console.log(`| PyTorch 2 threads | ${batch} | ${torch2!.toFixed(1)} | ${(torch2! / torchMs).toFixed(2)} | | |`);
    }
    const fmt = (x: number | null) => (x === null ? 'n/a' : x.toFixed(2));
    for (const r of ours) {
      const row: StepRow = {
        ...r, torchMs, ratio: torchMs === null ? null : r.ms / torchMs, torchCpuMs, cpuRatio: torchCpuMs === null ? null : r.cpuMs / torchCpuMs,
      };
      rows.push(row);
      console.log(`| ${r.backend} | ${batch} | ${r.ms.toFixed(1)} | ${fmt(row.ratio)} | ${r.cpuMs.toFixed(1)} | ${fmt(row.cpuRatio)} |`);
    }
  }
  if (o.json) {
    await mkdir(dirname(resolve(o.json)), { recursive: true });
    await writeFileAtomic(o.json, new TextEncoder().encode(`${JSON.stringify(rows, null, 2)}\n`));
    console.log(`\n# rows written to ${o.json}`);
  }
  return rows;
}
