/**
 * The GpuJsBackend as a backend: which mode really runs, strict mode, residency (no
 * readback inside a training step), the bounded kernel cache, dispose and tidy.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { GpuJsBackend, resolveAutoMode } from '../../core/backends/gpujs/index.ts';
import { ArgumentError, randn, tensor, withBackend } from '../../core/index.ts';
import { MODES, backendFor, expectClose, modeOf, reference } from './harness.ts';

describe.each(MODES)('GpuJsBackend on %s', (variant) => {
  const backend = backendFor(variant);
  const mode = modeOf(variant);
  const threads = variant === 'webasm+threads';

  it('runs in the mode it was asked for and says so', () => {
    expect(backend.requestedMode).toBe(mode);
    expect(backend.mode).toBe(mode);
    expect(backend.name).toBe(`gpujs:${variant}`);
    // Running kernels does not change it (every kernel's class is checked).
    withBackend(backend, () => randn([5, 3], { seed: 1 }).matmul(randn([3, 2], { seed: 2 })).exp().sum().item());
    expect(backend.mode).toBe(mode);
    expect(backend.fallbackReason).toBeNull();
  });

  it('reads nothing back during a training step, only when the host asks', () => {
    withBackend(backend, () => backend.tidy(() => {
      const w = randn([6, 4], { seed: 3, requiresGrad: true });
      const x = randn([5, 6], { seed: 4 });
      const m = w.zerosLike();
      const v = w.zerosLike();
      const before = backend.stats.readbacks;
      const loss = x.matmul(w).silu().square().mean();
      loss.backward();
      const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: true, step: 1 };
      backend.adamStep(w.storage, w.grad!.storage, m.storage, v.storage, h);
      expect(backend.stats.readbacks).toBe(before);
      loss.item();
      expect(backend.stats.readbacks).toBe(before + 1);
    }));
  });

  it('keeps at most kernelCacheSize compiled kernels and stays correct across evictions', () => {
    const small = new GpuJsBackend({ mode, strict: true, kernelCacheSize: 3, threads });
    try {
      const kept = withBackend(small, () => tensor([1, 2, 3]).exp());
      for (let n = 1; n <= 6; n++) {
        const got = withBackend(small, () => randn([n, 3], { seed: n }).add(1).mul(2).sum(1).toArray());
        const want = withBackend(reference, () => randn([n, 3], { seed: n }).add(1).mul(2).sum(1).toArray());
        expectClose(got, want, { reduction: 3 }, `after eviction, n=${n}`);
        expect(small.stats.cachedKernels).toBeLessThanOrEqual(3);
      }
      // A result computed before its kernel was evicted is still readable.
      expectClose(kept.toArray(), Float32Array.from([1, 2, 3].map(Math.exp)), {}, 'result of an evicted kernel');
      expect(small.stats.compiles).toBeGreaterThan(3);
      // gpu.js keeps every kernel it builds in gpu.kernels until destroyed: an evicted kernel
      // must leave it too, or the cache bounds nothing (webasm kernels hold wasm memories).
      const exec = (small as unknown as { exec: { gpu?: { kernels: unknown[] } } }).exec;
      if (exec.gpu) expect(exec.gpu.kernels.length).toBeLessThanOrEqual(3);
    } finally {
      small.destroy();
    }
    expect(small.stats.liveStorages).toBe(0);
    expect(() => withBackend(small, () => tensor([1, 2]).exp())).toThrow(/destroyed/);
  });

  it('disposes storages now, and refuses to use them afterwards', () => {
    withBackend(backend, () => {
      const live = backend.stats.liveStorages;
      const t = tensor([1, 2, 3]);
      expect(backend.stats.liveStorages).toBe(live + 1);
      t.dispose();
      expect(backend.stats.liveStorages).toBe(live);
      expect(() => t.exp()).toThrow(/disposed/);
      expect(() => t.toArray()).toThrow(/disposed/);
    });
  });

  it('tidy disposes what fn allocated except what it returns', () => {
    withBackend(backend, () => {
      const live = backend.stats.liveStorages;
      const out = backend.tidy(() => {
        const a = randn([4, 4], { seed: 5, requiresGrad: true });
        const y = a.matmul(a).tanh().sum();
        y.backward();
        return { y, grad: a.grad! };
      });
      expect(backend.stats.liveStorages).toBe(live + 2);
      expect(Number.isFinite(out.y.item())).toBe(true);
      expect(out.grad.toArray().length).toBe(16);
      out.y.dispose();
      out.grad.dispose();
      expect(backend.stats.liveStorages).toBe(live);
    });
  });

  it('tidy disposes what fn allocated when fn throws, and rethrows', () => {
    withBackend(backend, () => {
      const live = backend.stats.liveStorages;
      const kept = backend.tidy(() => {
        const k = randn([2], { seed: 7 });
        expect(() => backend.tidy(() => {
          randn([3], { seed: 8 }).exp();
          throw new Error('step failed');
        })).toThrow('step failed');
        // Nothing of the failed inner tidy is left to this one.
        expect(backend.stats.liveStorages).toBe(live + 1);
        return k;
      });
      expect(backend.stats.liveStorages).toBe(live + 1);
      kept.dispose();
      expect(backend.stats.liveStorages).toBe(live);
    });
  });
});

describe('GpuJsBackend modes and fallbacks', () => {
  it('auto takes the best mode gpu.js finds, in gpu.js order', () => {
    const auto = resolveAutoMode();
    const expected = MODES.includes('headlessgl') ? 'headlessgl' : auto;
    expect(auto).toBe(expected);
    const b = new GpuJsBackend({ mode: 'auto' });
    expect(b.requestedMode).toBe(auto);
    expect(b.mode).toBe(auto);
    b.destroy();
  });

  it('rejects an unknown mode by name, and threads outside webasm', () => {
    expect(() => new GpuJsBackend({ mode: 'metal' as never })).toThrow(ArgumentError);
    expect(() => new GpuJsBackend({ mode: 'metal' as never })).toThrow(/metal/);
    expect(() => new GpuJsBackend({ mode: 'cpu', threads: true })).toThrow(/threads: true needs mode 'webasm'/);
  });

  it('reports a silent fallback, and strict: true turns it into an error (headlessgl without a display)', () => {
    const script = `
      import { GpuJsBackend } from './core/backends/gpujs/index.ts';
      import { tensor, withBackend } from './core/index.ts';
      const b = new GpuJsBackend({ mode: 'headlessgl' });
      const v = withBackend(b, () => tensor([1, 4, 9]).sqrt().toArray());
      let strictError = '';
      try { new GpuJsBackend({ mode: 'headlessgl', strict: true }); } catch (e) { strictError = e.message; }
      console.log(JSON.stringify({ mode: b.mode, reason: b.fallbackReason, v: Array.from(v), strictError }));`;
    const env = { ...process.env };
    delete env.DISPLAY;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env, encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(r.mode).toBe('cpu');
    expect(r.reason).toMatch(/headlessgl/);
    expect(r.v).toEqual([1, 2, 3]);
    expect(r.strictError).toMatch(/strict|cannot run 'headlessgl'/);
  });
});

describe('the gpujs backend plugin', () => {
  it('registers one backend under TOKENS.Backend, in either container flavour', async () => {
    await import('reflect-metadata');
    const { container } = await import('tsyringe');
    const { TOKENS } = await import('../../core/plugins/tokens.ts');
    const { GpuJsBackend, register } = await import('../../core/backends/gpujs/index.ts');
    const { createRunContainer } = await import('../../core/plugins/container.ts');
    const child = container.createChildContainer();
    register(child, { mode: 'cpu', strict: true });
    const b = child.resolve(TOKENS.Backend) as InstanceType<typeof GpuJsBackend>;
    expect(b).toBeInstanceOf(GpuJsBackend);
    expect(child.resolve(TOKENS.Backend)).toBe(b);
    expect(b.mode).toBe('cpu');
    b.destroy();
    const run = createRunContainer();
    register(run, { mode: 'cpu' });
    expect(run.names(TOKENS.Backend)).toEqual(['gpujs']);
    const r = run.resolve(TOKENS.Backend) as InstanceType<typeof GpuJsBackend>;
    expect(run.resolve(TOKENS.Backend)).toBe(r);
    expect(r.mode).toBe('cpu');
    r.destroy();
    const { buildRecipe } = await import('../../core/plugins/recipe.ts');
    const recipe = await buildRecipe({ plugins: [{ use: 'backend/gpujs', options: { mode: 'cpu', strict: true } }] });
    const fromRecipe = recipe.resolve(TOKENS.Backend) as InstanceType<typeof GpuJsBackend>;
    expect(fromRecipe).toBeInstanceOf(GpuJsBackend);
    expect(fromRecipe.mode).toBe('cpu');
    fromRecipe.destroy();
    await expect(buildRecipe({ plugins: [{ use: 'backend/gpujs', options: { mod: 'cpu' } }] })).rejects.toThrow(/backend\/gpujs: unknown option "mod"/);
  });
});
