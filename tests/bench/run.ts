/**
 * npm run bench: ms and GFLOP/s of matmul (256/512/1024), conv2d forward+backward at small
 * UNet shapes and a group_norm + silu block, on every gpu.js mode that runs here, each
 * against the reference backend (ratio = reference ms / mode ms).
 *
 * Everything goes through the Tensor API and ends with one readback, the way a user sees it
 * (on webgpu and webasm+threads the readback is also what waits for the worker). Kernels are
 * compiled in a warm-up call that is not timed.
 *
 *   npm run bench                      all modes (headlessgl needs a display: xvfb-run -a)
 *   npm run bench -- --only matmul     one workload group (matmul | conv | norm)
 *   npm run bench -- --modes cpu,webasm+threads
 *
 * The `step` group (step-bench.ts) times a whole tiny ControlNet + LoRA training step per
 * backend against PyTorch in the same run; it runs only when asked for:
 *
 *   npm run bench -- --only step [--backends reference,gpujs:webasm,native@1,native@2]
 *                                [--batches 1,4] [--steps 5] [--warmup 2] [--json runs/step.json]
 */
import os from 'node:os';
import { NativeBackend } from '../../core/backends/native/index.ts';
import { GpuJsBackend } from '../../core/backends/gpujs/index.ts';
import { type Backend, ReferenceBackend, type Tensor, conv2d, groupNorm, randn, withBackend } from '../../core/index.ts';
import { type StepBenchOptions, defaultStepOptions, runStepBench } from './step-bench.ts';

interface Workload {
  group: 'matmul' | 'conv' | 'norm';
  name: string;
  /** Floating-point operations of one call (multiply-add = 2). */
  flops: number;
  /** Builds inputs (untimed) and returns the timed step, which returns what is read back. */
  setup: () => () => Tensor;
}

function matmulWorkload(n: number): Workload {
  return {
    group: 'matmul', name: `matmul ${n}x${n}x${n}`, flops: 2 * n ** 3,
    setup: () => {
      const a = randn([n, n], { seed: 1 });
      const b = randn([n, n], { seed: 2 });
      return () => a.matmul(b);
    },
  };
}

/** conv2d 3x3, padding 1, forward + input gradient + weight gradient (3 convolutions' work). */
function convWorkload(N: number, C: number, HW: number): Workload {
  const fwd = 2 * N * C * HW * HW * C * 9;
  return {
    group: 'conv', name: `conv2d fwd+bwd N${N} C${C} ${HW}x${HW} 3x3`, flops: 3 * fwd,
    setup: () => {
      const x = randn([N, C, HW, HW], { seed: 3 }).requiresGrad_();
      const w = randn([C, C, 3, 3], { seed: 4, std: 0.05 }).requiresGrad_();
      return () => {
        x.grad = null;
        w.grad = null;
        const y = conv2d(x, w, null, { padding: 1 });
        y.sum().backward();
        // Reading one gradient back waits for all of the work.
        return w.grad!.add(x.grad!.sum());
      };
    },
  };
}

/** group_norm (32 groups) + silu on [N, C, HW, HW], forward only. About 12 flops an element. */
function normWorkload(N: number, C: number, HW: number): Workload {
  return {
    group: 'norm', name: `group_norm+silu N${N} C${C} ${HW}x${HW}`, flops: 12 * N * C * HW * HW,
    setup: () => {
      const x = randn([N, C, HW, HW], { seed: 5 });
      const g = randn([C], { seed: 6 });
      const b = randn([C], { seed: 7 });
      return () => groupNorm(x, 32, g, b, 1e-5).silu();
    },
  };
}

const WORKLOADS: Workload[] = [
  matmulWorkload(256), matmulWorkload(512), matmulWorkload(1024),
  convWorkload(1, 64, 32), convWorkload(4, 64, 16), convWorkload(2, 128, 16),
  normWorkload(2, 128, 32),
];

type ModeName = 'reference' | 'cpu' | 'webasm' | 'webasm+threads' | 'headlessgl' | 'webgpu' | 'native@1' | 'native';
const ALL_MODES: ModeName[] = ['reference', 'cpu', 'webasm', 'webasm+threads', 'headlessgl', 'webgpu', 'native@1', 'native'];

function makeBackend(mode: ModeName): Backend {
  if (mode === 'reference') return new ReferenceBackend();
  // native@1: one thread (the per-core figure); native: the default pool (every core)
  if (mode === 'native@1') return new NativeBackend({ threads: 1 });
  if (mode === 'native') return new NativeBackend();
  const threads = mode === 'webasm+threads';
  return new GpuJsBackend({ mode: threads ? 'webasm' : mode, strict: true, threads });
}

interface Timing {
  /** Median wall-clock ms of one call. */
  ms: number;
  /** Median CPU ms of one call, all threads of the process (the worker pool's included). */
  cpuMs: number;
}

/**
 * Median wall and CPU time of the step over up to `reps` timed calls (stopping after ~2 s).
 * CPU time is reported because this machine is shared: wall time of a threaded run depends
 * on whether the other core is free, CPU time says what the kernels themselves cost.
 */
function time(backend: Backend, w: Workload, reps: number): Timing {
  return withBackend(backend, () => {
    const step = w.setup();
    const once = (): Timing => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      inTidy(backend, () => step().toArray());
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      return { ms, cpuMs: (c.user + c.system) / 1000 };
    };
    once(); // warm-up: compiles kernels
    const times: Timing[] = [];
    const started = performance.now();
    while (times.length < reps && (times.length === 0 || performance.now() - started < 2000)) times.push(once());
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    return { ms: median(times.map((t) => t.ms)), cpuMs: median(times.map((t) => t.cpuMs)) };
  });
}

/** In the backend's tidy scope: gpu.js releases its textures, native returns its buffers to the pool. */
function inTidy<T>(backend: Backend, fn: () => T): T {
  return backend.tidy ? backend.tidy(fn) : fn();
}

const args = process.argv.slice(2);
function get(flag: string): string | null {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] ?? null : null;
}

function positiveList(flag: string, fallback: number[]): number[] {
  const v = get(flag);
  if (v === null) return fallback;
  const xs = v.split(',').map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`${flag}: expected positive integers separated by commas, got '${v}'`);
  return xs;
}

function parseStepArgs(): StepBenchOptions {
  const o = defaultStepOptions();
  const backends = get('--backends');
  return {
    ...o,
    backends: backends ? backends.split(',').map((b) => b.trim()).filter(Boolean) : null,
    batches: positiveList('--batches', o.batches),
    steps: positiveList('--steps', [o.steps])[0]!,
    warmup: get('--warmup') === '0' ? 0 : positiveList('--warmup', [o.warmup])[0]!,
    json: get('--json'),
  };
}

function parseArgs(): { only: string | null; modes: ModeName[] } {
  const only = get('--only');
  const groups = [...new Set(WORKLOADS.map((w) => w.group)), 'step'];
  if (only !== null && !groups.includes(only as Workload['group'])) throw new Error(`--only: unknown workload group '${only}' (known: ${groups.join(', ')})`);
  const modes = get('--modes')?.split(',').filter((m) => m !== 'reference') ?? null;
  for (const m of modes ?? []) if (!ALL_MODES.includes(m as ModeName)) throw new Error(`--modes: unknown mode '${m}' (known: ${ALL_MODES.join(', ')})`);
  return { only, modes: modes ? ['reference', ...(modes as ModeName[])] : ALL_MODES };
}

async function main(): Promise<void> {
  const { only, modes } = parseArgs();
  if (only === 'step') {
    const cpus = os.cpus();
    console.log(`# training step benchmark — ${new Date().toISOString()}`);
    console.log(`# ${cpus[0]?.model ?? 'unknown cpu'}, ${cpus.length} cores, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    await runStepBench(parseStepArgs());
    console.log(`# load at the end ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    return;
  }
  const workloads = WORKLOADS.filter((w) => !only || w.group === only);
  const cpus = os.cpus();
  console.log(`# gpu.js backend benchmark — ${new Date().toISOString()}`);
  console.log(`# ${cpus[0]?.model ?? 'unknown cpu'}, ${cpus.length} cores, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const backends = new Map<ModeName, Backend>();
  for (const m of modes) {
    try {
      backends.set(m, makeBackend(m));
    } catch (e) {
      console.log(`# ${m}: not available here: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const header = ['workload', 'mode', 'ms', 'GFLOP/s', 'x reference', 'CPU ms', 'GFLOP per CPU-s'];
  console.log(`\n| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const w of workloads) {
    let refMs = NaN;
    for (const [m, b] of backends) {
      let t: Timing;
      try {
        t = time(b, w, 5);
      } catch (e) {
        console.log(`| ${w.name} | ${m} | failed: ${(e as Error).message.split('\n')[0]} | | | | |`);
        continue;
      }
      if (m === 'reference') refMs = t.ms;
      const gflops = w.flops / t.ms / 1e6;
      const perCpu = w.flops / t.cpuMs / 1e6;
      console.log(`| ${w.name} | ${m} | ${t.ms.toFixed(1)} | ${gflops.toFixed(2)} | ${(refMs / t.ms).toFixed(2)} | ${t.cpuMs.toFixed(1)} | ${perCpu.toFixed(2)} |`);
    }
  }
  for (const b of backends.values()) if (b instanceof GpuJsBackend) b.destroy();
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exitCode = 1;
});
