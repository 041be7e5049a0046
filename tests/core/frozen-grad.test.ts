/**
 * Frozen parameters cost no weight gradient: every gradient rule (conv2d, matmul/linear,
 * norms and their affine, bias adds) skips the kernels of inputs that do not require grad.
 * Proven by counting the backend calls backward() makes.
 */
import { describe, expect, it } from 'vitest';
import { Conv2d, GroupNorm, LayerNorm, Linear, ReferenceBackend, type Tensor, randn } from '../../core/index.ts';

/** A reference backend that counts its kernel calls while `counting` is on. */
function countingBackend() {
  const backend = new ReferenceBackend();
  const calls = new Map<string, number>();
  const state = { counting: false };
  const proto = Object.getPrototypeOf(backend) as Record<string, unknown>;
  for (const name of ['matmul', 'conv2d', 'conv2dGradInput', 'conv2dGradWeight', 'normRows', 'normRowsGrad', 'reduceRows', 'binary', 'unaryGrad'] as const) {
    const kernel = proto[name] as (...a: unknown[]) => unknown;
    (backend as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      if (state.counting) calls.set(name, (calls.get(name) ?? 0) + 1);
      return kernel.apply(backend, args);
    };
  }
  return { backend, calls, state };
}

function build(backend: ReferenceBackend) {
  const o = { backend, seed: 1 };
  return {
    conv1: new Conv2d(3, 8, 3, { ...o, padding: 1 }),
    gn: new GroupNorm(2, 8, o),
    conv2: new Conv2d(8, 8, 3, { ...o, padding: 1 }),
    lin1: new Linear(8 * 4 * 4, 16, o),
    ln: new LayerNorm(16, o),
    lin2: new Linear(16, 4, o),
  };
}

function forward(m: ReturnType<typeof build>, x: Tensor): Tensor {
  const h = m.conv2.forward(m.gn.forward(m.conv1.forward(x)).silu());
  return m.lin2.forward(m.ln.forward(m.lin1.forward(h.flatten(1)))).square().mean();
}

function backwardCalls(freeze: (m: ReturnType<typeof build>) => void) {
  const { backend, calls, state } = countingBackend();
  const m = build(backend);
  freeze(m);
  const loss = forward(m, randn([2, 3, 4, 4], { backend, seed: 2 }));
  state.counting = true;
  loss.backward();
  state.counting = false;
  return { m, calls: Object.fromEntries(calls) as Record<string, number> };
}

describe('frozen parameters', () => {
  it('a frozen prefix costs nothing; frozen layers after a trainable one pass input gradients only', () => {
    const { m, calls } = backwardCalls((m) => {
      for (const l of [m.conv1, m.gn, m.lin1, m.ln]) l.freeze();
    });
    for (const l of [m.conv1, m.gn, m.lin1, m.ln]) expect(l.parameters().every((p) => p.grad === null)).toBe(true);
    for (const l of [m.conv2, m.lin2]) expect(l.parameters().every((p) => p.grad !== null)).toBe(true);
    expect(calls.conv2dGradWeight).toBe(1); // conv2 only
    expect(calls.conv2dGradInput).toBeUndefined(); // nothing before conv2 wants a gradient
    expect(calls.matmul).toBe(3); // lin2: weight + input; lin1 (frozen): input only
    expect(calls.normRowsGrad).toBe(1); // ln passes the gradient on; gn is never reached
    expect(calls.reduceRows).toBe(2); // the biases of conv2 and lin2; no frozen bias is summed
  });

  it('the same model with everything trainable makes exactly the extra weight-gradient kernels', () => {
    const { m, calls } = backwardCalls(() => {});
    expect(m.conv1.weight.grad).not.toBeNull();
    expect(calls.conv2dGradWeight).toBe(2);
    expect(calls.conv2dGradInput).toBe(1);
    expect(calls.matmul).toBe(4);
    expect(calls.normRowsGrad).toBe(2);
  });

  it('an all-frozen model under a trainable input (a LoRA-style branch) computes input gradients only', () => {
    const { backend, calls, state } = countingBackend();
    const m = build(backend);
    for (const l of Object.values(m)) l.freeze();
    const x = randn([2, 3, 4, 4], { backend, seed: 2 }).requiresGrad_();
    const loss = forward(m, x);
    state.counting = true;
    loss.backward();
    state.counting = false;
    expect(x.grad).not.toBeNull();
    expect(Object.values(m).every((l) => l.parameters().every((p) => p.grad === null))).toBe(true);
    expect(calls.get('conv2dGradWeight')).toBeUndefined();
    expect(calls.get('conv2dGradInput')).toBe(2);
    expect(calls.get('matmul')).toBe(2);
    expect(calls.get('reduceRows')).toBeUndefined();
  });
});
