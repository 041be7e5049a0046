/**
 * Parameters are ordinary leaf tensors with requiresGrad set. Tensors are immutable views,
 * so "updating a parameter in place" (an optimiser step, loading a state dict, an init
 * function) swaps the storage under the same Tensor object: every module field and every
 * optimiser that holds the tensor sees the new values, as with torch's `param.data = ...`.
 */
import type { Backend, Storage } from '../backend.ts';
import { ShapeError, TensorError, fmtShape } from '../errors.ts';
import { sameShape } from '../shape.ts';
import { Tensor } from '../tensor.ts';

/** True when t owns a dense row-major storage of exactly its own size (a parameter can be updated in place). */
export function isDenseLeaf(t: Tensor): boolean {
  return t.isLeaf && t.isContiguous() && t.offset === 0 && t.storage.size === t.size;
}

/**
 * Replaces the storage of `target` (a dense leaf) by `storage`, which must hold target.size
 * values in row-major order. The old storage is released (GPU memory).
 */
export function replaceStorage(target: Tensor, storage: Storage): void {
  if (!isDenseLeaf(target)) {
    throw new TensorError(`replaceStorage: ${target.name ?? 'tensor'} ${fmtShape(target.shape)} is not a dense leaf tensor; only parameters and buffers can be updated in place`);
  }
  if (storage.size !== target.size) {
    throw new ShapeError(`replaceStorage: ${target.name ?? 'tensor'} holds ${target.size} values, the new storage ${storage.size}`);
  }
  if (storage.backend !== target.backend) {
    throw new TensorError(`replaceStorage: ${target.name ?? 'tensor'} lives on '${target.backend.name}', the new storage on '${storage.backend.name}'`);
  }
  target._rebind(storage);
}

/** Copies the values of `source` (any backend, any layout, same shape) into `target` in place. */
export function copyInto(target: Tensor, source: Tensor | ArrayLike<number>): void {
  if (!(source instanceof Tensor)) {
    const values = source;
    if (values.length !== target.size) {
      throw new ShapeError(`copyInto: ${target.name ?? 'tensor'} ${fmtShape(target.shape)} holds ${target.size} values, got ${values.length}`);
    }
    replaceStorage(target, target.backend.upload(values));
    return;
  }
  if (!sameShape(source.shape, target.shape)) {
    throw new ShapeError(`copyInto: ${target.name ?? 'tensor'} has shape ${fmtShape(target.shape)}, the source ${fmtShape(source.shape)}`);
  }
  if (!isDenseLeaf(target)) throw new TensorError(`copyInto: ${target.name ?? 'tensor'} ${fmtShape(target.shape)} is not a dense leaf tensor`);
  target.setData(source);
}

/** Re-uploads a dense leaf onto another backend, keeping the Tensor object (Module.to). */
export function moveToBackend(target: Tensor, backend: Backend): void {
  if (target.backend === backend) return;
  if (!isDenseLeaf(target)) throw new TensorError(`moveToBackend: ${target.name ?? 'tensor'} is not a dense leaf tensor`);
  target._rebind(backend.upload(target.toArray()));
  target.grad = null;
}
