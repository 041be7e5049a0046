/** From drawn host data to tensors on a chosen backend. */
import type { Backend } from '../backend.ts';
import { ReferenceBackend } from '../backends/reference.ts';
import { tensor } from '../ops/creation.ts';
import type { Tensor } from '../tensor.ts';
import type { HostTensor } from './arbitraries.ts';

/** A tensor with `h`'s shape and values, on `backend` (default: the current default backend). */
export function toTensor(h: HostTensor, options: { backend?: Backend; requiresGrad?: boolean } = {}): Tensor {
  return tensor(h.data, [...h.shape], options);
}

/** A float64 reference backend: gradcheck's finite differences need it (float32 rounding would drown them). */
export const float64Reference = new ReferenceBackend({ precision: 'float64' });
