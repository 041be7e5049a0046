/**
 * Finite-difference checks of chosen entries of model gradients (parameters or inputs):
 * a full gradcheck over every weight of even a tiny UNet would take minutes, so each test
 * picks a few entries of a few tensors. Run on a float64 ReferenceBackend.
 */
import { copyInto, noGrad, type Tensor } from '../../core/index.ts';

export interface FdTarget {
  name: string;
  tensor: Tensor;
  /** Flat indices to check (default: first, middle, last). */
  indices?: number[];
}

export interface FdResult {
  name: string;
  index: number;
  analytic: number;
  numeric: number;
}

/** loss() must build a scalar from the targets' current values. Returns one row per checked entry. */
export function finiteDifferenceGrads(loss: () => Tensor, targets: readonly FdTarget[], eps = 1e-6): FdResult[] {
  for (const t of targets) t.tensor.grad = null;
  loss().backward();
  const rows: FdResult[] = [];
  for (const t of targets) {
    const analyticAll = t.tensor.grad ? t.tensor.grad.toFloat64Array() : new Float64Array(t.tensor.size);
    const base = t.tensor.toFloat64Array();
    const indices = t.indices ?? [0, Math.floor(t.tensor.size / 2), t.tensor.size - 1];
    for (const i of indices) {
      const at = (delta: number) => {
        const v = base.slice();
        v[i]! += delta;
        copyInto(t.tensor, v);
        return noGrad(() => loss().item());
      };
      const numeric = (at(eps) - at(-eps)) / (2 * eps);
      copyInto(t.tensor, base);
      rows.push({ name: t.name, index: i, analytic: analyticAll[i]!, numeric });
    }
  }
  return rows;
}

/** The rows whose analytic and numeric values differ by more than atol + rtol * |numeric|. */
export function gradMismatches(rows: readonly FdResult[], atol = 1e-6, rtol = 1e-4): FdResult[] {
  return rows.filter((r) => !(Math.abs(r.analytic - r.numeric) <= atol + rtol * Math.abs(r.numeric)));
}
