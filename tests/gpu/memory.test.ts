/**
 * 1,000 forward + backward + Adam steps of a small net keep the live storage count (and, on
 * webgpu, the worker's device buffer count) and the JS heap flat: everything a step
 * allocates is released deterministically by tidy, on every mode.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { GpuJsBackend } from '../../core/backends/gpujs/index.ts';
import { type Tensor, randn, withBackend } from '../../core/index.ts';
import { MODES, backendFor } from './harness.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Param { p: Tensor; m: Tensor; v: Tensor }

/** x [8, 4] -> linear 4x16 -> silu -> linear 16x1, mse against y; one AdamW step. */
function step(backend: GpuJsBackend, params: Param[], x: Tensor, y: Tensor, t: number): Param[] {
  return backend.tidy(() => {
    const [w1, w2] = params.map((q) => q.p.detach().requiresGrad_());
    const out = x.matmul(w1!).silu().matmul(w2!);
    out.sub(y).square().mean().backward();
    const h = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: true, step: t };
    return params.map((q, i) => {
      const g = [w1!, w2!][i]!.grad!;
      const s = backend.adamStep(q.p.storage, g.storage, q.m.storage, q.v.storage, h);
      return { p: wrapLike(q.p, s.param), m: wrapLike(q.m, s.m), v: wrapLike(q.v, s.v) };
    });
  });
}

function wrapLike(t: Tensor, storage: Tensor['storage']): Tensor {
  return new (t.constructor as new (s: Tensor['storage'], shape: readonly number[]) => Tensor)(storage, t.shape);
}

describe.each(MODES)('memory on %s', (mode) => {
  it('stays flat over 1,000 training steps', () => {
    const backend = backendFor(mode);
    withBackend(backend, () => {
      const x = randn([8, 4], { seed: 1 });
      const y = randn([8, 1], { seed: 2 });
      let params: Param[] = [[4, 16], [16, 1]].map((shape, i) => ({
        p: randn(shape, { seed: 10 + i, std: 0.5 }), m: randn(shape).mul(0), v: randn(shape).mul(0),
      }));
      const release = (ps: Param[]) => ps.forEach((q) => [q.p, q.m, q.v].forEach((t) => t.dispose()));
      const loss0 = withBackend(backend, () => x.matmul(params[0]!.p).silu().matmul(params[1]!.p).sub(y).square().mean().item());
      let liveAfter10 = 0;
      let devAfter10: number | null = null;
      let heapAfter10 = 0;
      for (let t = 1; t <= 1000; t++) {
        const next = step(backend, params, x, y, t);
        release(params);
        params = next;
        if (t === 10) {
          liveAfter10 = backend.stats.liveStorages;
          devAfter10 = backend.deviceBuffers();
          gc();
          heapAfter10 = process.memoryUsage().heapUsed;
        }
      }
      expect(backend.stats.liveStorages).toBe(liveAfter10);
      expect(backend.deviceBuffers()).toBe(devAfter10);
      gc();
      const growth = process.memoryUsage().heapUsed - heapAfter10;
      expect(growth, `heap grew by ${growth} bytes over 990 steps`).toBeLessThan(4 * 1024 * 1024);
      // And it trained: the loss went down.
      const loss = x.matmul(params[0]!.p).silu().matmul(params[1]!.p).sub(y).square().mean().item();
      expect(loss).toBeLessThan(loss0);
    });
  });
});
