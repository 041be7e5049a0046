/**
 * Shape-only ("meta") parameters: a backend whose storages record a size and hold no values,
 * so a full-size model (SD1.5's UNet: 859 M parameters, 3.4 GB in float32) can be built to
 * list its state-dict keys, shapes and parameter counts in milliseconds and no memory.
 * Layers draw no random numbers on it (see `initUniform`), and every kernel refuses to run.
 *
 *   const unet = shapeOnly(() => new UNet2DConditionModel(sd15));
 *   unet.numParameters().total; // 859520964
 */
import type { Backend, Storage } from '../backend.ts';
import { withBackend } from '../backends/default.ts';
import { TensorError } from '../errors.ts';
import { sizeOf } from '../shape.ts';

class MetaStorage implements Storage {
  constructor(readonly size: number, readonly backend: Backend) {}
}

function unavailable(kernel: string): never {
  throw new TensorError(`meta backend: '${kernel}' needs values, but a shape-only (meta) tensor holds none; build the model on a real backend to run it`);
}

export class MetaBackend implements Backend {
  readonly name = 'meta';
  upload(values: ArrayLike<number>): Storage {
    return new MetaStorage(values.length, this);
  }
  fill(size: number): Storage {
    return new MetaStorage(size, this);
  }
  copy(view: { shape: readonly number[] }): Storage {
    return new MetaStorage(sizeOf(view.shape), this);
  }
  dispose(): void {}
  read(): Float32Array { return unavailable('read'); }
  concat(): Storage { return unavailable('concat'); }
  pad(): Storage { return unavailable('pad'); }
  unary(): Storage { return unavailable('unary'); }
  unaryGrad(): Storage { return unavailable('unaryGrad'); }
  binary(): Storage { return unavailable('binary'); }
  where(): Storage { return unavailable('where'); }
  clamp(): Storage { return unavailable('clamp'); }
  reduceRows(): Storage { return unavailable('reduceRows'); }
  matmul(): Storage { return unavailable('matmul'); }
  conv2d(): Storage { return unavailable('conv2d'); }
  conv2dGradInput(): Storage { return unavailable('conv2dGradInput'); }
  conv2dGradWeight(): Storage { return unavailable('conv2dGradWeight'); }
  upsampleNearest2d(): Storage { return unavailable('upsampleNearest2d'); }
  upsampleNearest2dGrad(): Storage { return unavailable('upsampleNearest2dGrad'); }
  avgPool2d(): Storage { return unavailable('avgPool2d'); }
  avgPool2dGrad(): Storage { return unavailable('avgPool2dGrad'); }
  normRows(): never { return unavailable('normRows'); }
  normRowsGrad(): Storage { return unavailable('normRowsGrad'); }
  softmaxRows(): Storage { return unavailable('softmaxRows'); }
  softmaxRowsGrad(): Storage { return unavailable('softmaxRowsGrad'); }
  gatherRows(): Storage { return unavailable('gatherRows'); }
  gatherRowsGrad(): Storage { return unavailable('gatherRowsGrad'); }
  adamStep(): never { return unavailable('adamStep'); }
}

/** The one shared meta backend. */
export const metaBackend = new MetaBackend();

/** True for a backend whose tensors hold shapes only (layers skip drawing initial values). */
export function isMetaBackend(backend: Backend | undefined): boolean {
  return backend instanceof MetaBackend;
}

/** Runs a model constructor with meta as the default backend: parameters get shapes, no values. */
export function shapeOnly<T>(build: () => T): T {
  return withBackend(metaBackend, build);
}
