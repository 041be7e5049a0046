/**
 * A few-line Adam for the models' overfit tests, on the backend's fused adamStep kernel.
 * (The framework's optimisers live in core/optim on another branch; this keeps the model
 * tests independent of it.)
 */
import { replaceStorage, type Storage, type Tensor } from '../../core/index.ts';

export function testAdam(params: readonly Tensor[], lr: number): () => void {
  const state = params.map((p) => ({ m: p.backend.fill(p.size, 0) as Storage, v: p.backend.fill(p.size, 0) as Storage }));
  let step = 0;
  return () => {
    step++;
    params.forEach((p, i) => {
      if (!p.grad) return;
      const s = state[i]!;
      const out = p.backend.adamStep(p.storage, p.grad.contiguous().storage, s.m, s.v, { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: true, step });
      replaceStorage(p, out.param);
      s.m = out.m;
      s.v = out.v;
      p.grad = null;
    });
  };
}
