/**
 * Training a tiny model with nothing but the core: tensors, autograd and a hand-written
 * SGD step. Run: npx tsx examples/train-by-hand.ts
 */
import { mseLoss, noGrad, randn, tensor, zeros } from '../core/index.ts';

// Data: y = x · [2, -1, 0.5] + 0.3, 64 samples (seeded, so every run is the same).
const xs = randn([64, 3], { seed: 1 });
const ys = xs.matmul(tensor([[2], [-1], [0.5]])).add(0.3);

// Parameters are leaves that require grad.
const w = zeros([3, 1], { requiresGrad: true });
const b = zeros([1], { requiresGrad: true });

for (let step = 0; step <= 200; step++) {
  const loss = mseLoss(xs.matmul(w).add(b), ys);
  w.zeroGrad();
  b.zeroGrad();
  loss.backward(); // fills w.grad and b.grad, then frees the graph
  noGrad(() => {
    // Kernels never write into a storage: an update rebinds the leaf to new values.
    w.setData(w.sub(w.grad!.mul(0.1)));
    b.setData(b.sub(b.grad!.mul(0.1)));
  });
  if (step % 50 === 0) console.log(`step ${step}: loss ${loss.item().toExponential(3)}`);
}
console.log('w =', w.tolist(), 'b =', b.item());
