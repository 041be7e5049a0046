/**
 * Scans: cumsum along an axis, on the custom-op registry (a host kernel for the reference
 * and native backends, a gpu.js kernel). The gradient of a cumulative sum is the reversed
 * cumulative sum of the incoming gradient, which is the same kernel run backwards.
 */
import { normAxis, sizeOf } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { type CustomOp, type HostKernelArgs, defineOp } from './custom.ts';

/** The input is viewed as [outer, n, inner], the scanned axis in the middle. */
interface ScanAttrs {
  outer: number;
  n: number;
  inner: number;
  /** Sum from the end of the axis instead of the start. */
  reverse: boolean;
}

/** Running sums in float64, like the reference backend's other accumulations. */
function cumsumHost({ inputs: [x], out, attrs: { outer, n, inner, reverse } }: HostKernelArgs<ScanAttrs>): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = 0;
      for (let k = 0; k < n; k++) {
        const at = (o * n + (reverse ? n - 1 - k : k)) * inner + i;
        acc += x![at]!;
        out[at] = acc;
      }
    }
  }
}

const cumsumOp: CustomOp<ScanAttrs> = defineOp<ScanAttrs>({
  name: 'cumsum',
  arity: 1,
  kernels: {
    reference: cumsumHost,
    native: cumsumHost,
    // One output per thread, summing its prefix (or suffix): O(n) work each, no cross-thread sync.
    gpujs: ({ attrs }) => ({
      source: `function (a) {
        let i = this.thread.x;
        let o = Math.floor((i + 0.5) / (this.constants.N * this.constants.INNER));
        let r = i - o * this.constants.N * this.constants.INNER;
        let j = Math.floor((r + 0.5) / this.constants.INNER);
        let c = r - j * this.constants.INNER;
        let base = o * this.constants.N * this.constants.INNER + c;
        let acc = 0;
        for (let k = 0; k < this.constants.N; k++) {
          let take = 0;
          if (this.constants.REV == 0 && k <= j) { take = 1; }
          if (this.constants.REV == 1 && k >= j) { take = 1; }
          if (take == 1) { acc = acc + a[base + k * this.constants.INNER]; }
        }
        return acc;
      }`,
      constants: { N: attrs.n, INNER: attrs.inner, REV: attrs.reverse ? 1 : 0 },
    }),
  },
  grad: (gy, { attrs }) => [cumsumOp([gy], { ...attrs, reverse: !attrs.reverse })],
});

/** Cumulative sum along an axis (torch.cumsum(input, dim)); the shape is kept. */
export function cumsum(x: Tensor, axis: number): Tensor {
  const a = normAxis(axis, Math.max(x.ndim, 1), 'cumsum');
  if (x.ndim === 0) return cumsumOp([x], { outer: 1, n: 1, inner: 1, reverse: false });
  return cumsumOp([x], { outer: sizeOf(x.shape.slice(0, a)), n: x.shape[a]!, inner: sizeOf(x.shape.slice(a + 1)), reverse: false });
}
