/**
 * PLACEHOLDER — to be replaced at merge by the framework branch's core/io/safetensors.ts.
 * A minimal F32-only safetensors writer/reader with the same two entry points and
 * signatures (`saveSafetensors`, `loadSafetensors`), so the LoRA plugin's adapter files can
 * be written and read on this branch. Format: u64 LE header length, JSON header
 * {name: {dtype, shape, data_offsets}, __metadata__}, padded with spaces to 8 bytes, then data.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Backend } from '../backend.ts';
import { getDefaultBackend } from '../backends/default.ts';
import { tensor } from '../ops/creation.ts';
import { Tensor } from '../tensor.ts';

export type TensorLike = Tensor | { shape: readonly number[]; values: ArrayLike<number> };

export interface EncodeOptions {
  metadata?: Readonly<Record<string, string>>;
}

export async function saveSafetensors(path: string, tensors: ReadonlyMap<string, TensorLike> | Readonly<Record<string, TensorLike>>, options: EncodeOptions = {}): Promise<void> {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, TensorLike>);
  const header: Record<string, unknown> = {};
  if (options.metadata) header['__metadata__'] = options.metadata;
  const blocks: Float32Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    const values = t instanceof Tensor ? t.toArray() : Float32Array.from(t.values);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + values.length * 4] };
    offset += values.length * 4;
    blocks.push(values);
  }
  let json = JSON.stringify(header);
  const raw = new TextEncoder().encode(json);
  json += ' '.repeat((8 - (raw.length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const b of blocks) {
    const view = new DataView(out.buffer, at, b.length * 4);
    for (let i = 0; i < b.length; i++) view.setFloat32(i * 4, b[i]!, true);
    at += b.length * 4;
  }
  await writeFile(path, out);
}

export interface LoadOptions {
  backend?: Backend;
}

export async function loadSafetensors(path: string, options: LoadOptions = {}): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> | null }> {
  const bytes = new Uint8Array(await readFile(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const metadata = (header['__metadata__'] as unknown as Record<string, string> | undefined) ?? null;
  const backend = options.backend ?? getDefaultBackend();
  const tensors = new Map<string, Tensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (entry.dtype !== 'F32') throw new Error(`loadSafetensors (placeholder): ${path}: tensor '${name}' is ${entry.dtype}; only F32 is read here`);
    const [begin, end] = entry.data_offsets;
    const count = (end - begin) / 4;
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = view.getFloat32(8 + n + begin + i * 4, true);
    tensors.set(name, tensor(values, entry.shape, { backend }));
  }
  return { tensors, metadata };
}
