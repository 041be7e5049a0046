/** softmax and log_softmax along any axis: one fused, numerically stable row kernel each way. */
import { attach } from '../autograd.ts';
import { normAxis } from '../shape.ts';
import type { Tensor } from '../tensor.ts';
import { dense, wrap } from './util.ts';
import { transpose } from './views.ts';

function softmaxAlong(x: Tensor, axis: number, log: boolean): Tensor {
  const name = log ? 'logSoftmax' : 'softmax';
  const a = normAxis(axis, x.ndim, name);
  if (a !== x.ndim - 1) return transpose(softmaxAlong(transpose(x, a, -1), -1, log), a, -1);
  const cols = x.shape[a]!;
  const rows = cols === 0 ? 0 : x.size / cols;
  const y = x.backend.softmaxRows(dense(x), rows, cols, log);
  const out = wrap(y, x.shape);
  return attach(out, name, [x], (gy) => [wrap(x.backend.softmaxRowsGrad(y, dense(gy), rows, cols, log), x.shape)]);
}

export const softmax = (x: Tensor, axis = -1): Tensor => softmaxAlong(x, axis, false);
export const logSoftmax = (x: Tensor, axis = -1): Tensor => softmaxAlong(x, axis, true);
