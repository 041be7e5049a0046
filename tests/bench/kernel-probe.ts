/**
 * `--kernels`: where a step's time goes, per backend kernel and shape. Wraps the methods of one
 * backend instance to add up the CPU time of each call (process.cpuUsage, ~1 us of overhead a
 * call), keyed by kernel and geometry (conv shapes, matmul sizes, the elementwise op).
 */
import type { Backend, Conv2dGeometry, Storage, StridedView } from '../../core/index.ts';

/** The Backend interface's methods (a backend's private helpers are not wrapped). */
const KERNELS = [
  'upload', 'read', 'dispose', 'copy', 'fill', 'concat', 'pad', 'unary', 'unaryGrad', 'binary', 'where', 'clamp', 'reduceRows',
  'matmul', 'conv2d', 'conv2dGradInput', 'conv2dGradWeight', 'upsampleNearest2d', 'upsampleNearest2dGrad', 'avgPool2d',
  'avgPool2dGrad', 'normRows', 'normRowsGrad', 'softmaxRows', 'softmaxRowsGrad', 'gatherRows', 'gatherRowsGrad', 'adamStep',
] as const satisfies readonly (keyof Backend)[];

interface Entry {
  ms: number;
  calls: number;
  /** Multiply-adds x 2 (conv, matmul) or elements (elementwise), to print a rate. */
  work: number;
}

export class KernelProbe {
  private readonly table = new Map<string, Entry>();
  private steps = 0;
  on = false;

  constructor(backend: Backend) {
    const target = backend as unknown as Record<string, (...a: unknown[]) => unknown>;
    let depth = 0; // a kernel built on other kernels is counted once, as itself
    for (const name of KERNELS) {
      const kernel = target[name]!.bind(backend);
      target[name] = (...args: unknown[]) => {
        if (!this.on || depth > 0) return kernel(...args);
        depth++;
        const c0 = process.cpuUsage();
        let result: unknown;
        try {
          result = kernel(...args);
        } finally {
          depth--;
        }
        const c = process.cpuUsage(c0);
        const [key, work] = describe(name, args);
        const e = this.table.get(key) ?? { ms: 0, calls: 0, work: 0 };
        e.ms += (c.user + c.system) / 1000;
        e.calls++;
        e.work += work;
        this.table.set(key, e);
        return result;
      };
    }
  }

  countStep(): void {
    this.steps++;
  }

  /** The `top` costliest kernels per step, as table rows. */
  report(top = 25): string[] {
    const n = Math.max(1, this.steps);
    const rows = [...this.table].sort((a, b) => b[1].ms - a[1].ms);
    const total = rows.reduce((t, [, e]) => t + e.ms, 0) / n;
    const lines = [`# backend kernels: ${total.toFixed(1)} CPU ms a step in ${rows.reduce((t, [, e]) => t + e.calls, 0) / n} calls; the costliest:`, '', '| CPU ms/step | calls/step | rate | kernel |', '|---|---|---|---|'];
    for (const [key, e] of rows.slice(0, top)) {
      const rate = !e.work ? '' : /^(conv|matmul)/.test(key) ? `${(e.work / e.ms / 1e6).toFixed(1)} GFLOP/s` : `${((e.ms * 1e6) / e.work).toFixed(2)} ns/elem`;
      lines.push(`| ${(e.ms / n).toFixed(2)} | ${e.calls / n} | ${rate} | ${key} |`);
    }
    return lines;
  }
}

function describe(name: string, a: unknown[]): [string, number] {
  if (name.startsWith('conv2d')) {
    const g = a[2] as Conv2dGeometry;
    const flops = (2 * g.batch * g.outChannels * g.outHeight * g.outWidth * g.inChannels * g.kernelHeight * g.kernelWidth) / g.groups;
    return [`${name} N${g.batch} C${g.inChannels}->O${g.outChannels} ${g.inHeight}x${g.inWidth} k${g.kernelHeight} s${g.strideH}`, flops];
  }
  if (name === 'matmul') {
    const [, , batch, m, k, n, ta, tb] = a as [Storage, Storage, number, number, number, number, boolean, boolean];
    return [`matmul b${batch} m${m} k${k} n${n} ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`, 2 * batch * m * k * n];
  }
  if (name === 'unary' || name === 'unaryGrad') return [`${name} ${String(a[0])}`, (a[1] as Storage).size];
  if (name === 'binary') return [`binary ${String(a[0])}`, (a[1] as StridedView).shape.reduce((x, y) => x * y, 1)];
  return [name, 0];
}
