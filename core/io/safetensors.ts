/**
 * safetensors, byte-compatible with the reference library: an 8-byte little-endian header
 * length N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {string: string}} padded with spaces to a multiple of 8, then the
 * little-endian row-major data, offsets relative to its start.
 *
 * The reader treats the file as hostile: every length is checked against the bytes actually
 * present before anything is allocated, duplicate names are detected (JSON.parse would hide
 * them), and the tensors must tile the data area exactly, as the reference reader demands.
 * Every failure is a SafetensorsError naming the file and the tensor at fault.
 */
import { readFile } from 'node:fs/promises';
import type { Backend } from '../backend.ts';
import { getDefaultBackend } from '../backends/default.ts';
import { Tensor } from '../tensor.ts';
import { wrap } from '../ops/util.ts';
import { sizeOf } from '../shape.ts';
import { writeFileAtomic } from './atomic.ts';
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from './half.ts';
import { JsonSyntaxError, type JsonValue, keysInOrder, parseStrictJson } from './strict-json.ts';

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** The reference reader's cap on the header size. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Element sizes of every dtype the format defines (all are validated; the float ones are read). */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};
export type ReadableDtype = 'F32' | 'F16' | 'BF16' | 'F64';
export type WritableDtype = 'F32' | 'F16' | 'BF16';
const READABLE = new Set<string>(['F32', 'F16', 'BF16', 'F64']);

export interface TensorEntry {
  dtype: string;
  shape: number[];
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** In the order of their data in the file. */
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string> | null;
  /** Byte offset of the data area in the file (8 + N). */
  dataStart: number;
}

export interface DecodedTensor {
  dtype: ReadableDtype;
  shape: number[];
  /** The values converted to float32. */
  values: Float32Array;
}

/** Anything the writer can take: tensors, or plain shape + values. */
export type TensorLike = Tensor | { shape: readonly number[]; values: ArrayLike<number> };

const isObject = (v: JsonValue | undefined): v is { [key: string]: JsonValue } => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: JsonValue | undefined): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses and validates the header of a safetensors byte string (no tensor data is touched). */
export function parseSafetensorsHeader(bytes: Uint8Array, source = '<bytes>'): SafetensorsHeader {
  const err = (msg: string) => new SafetensorsError(`safetensors ${source}: ${msg}`);
  if (bytes.length < 8) throw err(`file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) throw err(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (8 + n > bytes.length) throw err(`header length ${n} runs past the end of the file (${bytes.length} bytes): truncated file?`);
  if (n < 2) throw err(`header length ${n} is too small for a JSON object`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw err('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw err("header does not start with '{'");
  let json: JsonValue;
  try {
    json = parseStrictJson(text, { maxDepth: 8 });
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      throw err(e.message.startsWith('duplicate key') ? `duplicate tensor name: ${e.message}` : `header is not valid JSON: ${e.message}`);
    }
    throw e;
  }
  if (!isObject(json)) throw err('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  let metadata: Record<string, string> | null = null;
  const tensors = new Map<string, TensorEntry>();
  for (const name of keysInOrder(json)) {
    const info = json[name]!;
    if (name === '__metadata__') {
      if (!isObject(info)) throw err('__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw err(`__metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      }
      // fromEntries defines own properties: a key "__proto__" stays a key instead of setting the prototype.
      metadata = Object.fromEntries(Object.entries(info)) as Record<string, string>;
      continue;
    }
    if (!isObject(info)) throw err(`tensor '${name}': entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) throw err(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isCount)) throw err(`tensor '${name}': shape must be an array of integers >= 0, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw err(`tensor '${name}': data_offsets must be [begin, end] integers >= 0, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw err(`tensor '${name}': data_offsets [${begin}, ${end}] run backwards`);
    if (end > dataLength) throw err(`tensor '${name}': data_offsets [${begin}, ${end}] lie outside the ${dataLength}-byte data area (truncated file?)`);
    let count = 1;
    for (const d of shape as number[]) {
      count *= d;
      if (count > Number.MAX_SAFE_INTEGER) throw err(`tensor '${name}': shape ${JSON.stringify(shape)} is absurdly large`);
    }
    const expected = count * DTYPE_BYTES[dtype]!;
    if (expected !== end - begin) {
      throw err(`tensor '${name}': shape ${JSON.stringify(shape)} of ${dtype} needs ${expected} bytes, data_offsets give ${end - begin}`);
    }
    tensors.set(name, { dtype, shape: shape as number[], dataOffsets: [begin, end] });
  }
  // The tensors must tile the data area: sorted by offset, each starts where the previous ends.
  const sorted = [...tensors.entries()].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let at = 0;
  for (const [name, t] of sorted) {
    const [begin, end] = t.dataOffsets;
    if (begin < at) throw err(`tensor '${name}': data_offsets [${begin}, ${end}] overlap the previous tensor (which ends at ${at})`);
    if (begin > at) throw err(`tensor '${name}': data_offsets [${begin}, ${end}] leave a gap after byte ${at}`);
    at = end;
  }
  if (at !== dataLength) throw err(`the tensors cover ${at} bytes of data but the data area holds ${dataLength}`);
  // Listed in data order, which is the writer's order (JSON objects do not keep "0" in place).
  return { tensors: new Map(sorted), metadata, dataStart };
}

/** The file format is little-endian; so is every host Node runs on in practice, but check. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decodeValues(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  // F32 on a little-endian host is one copy (slice() also gives the 4-byte alignment a view needs).
  if (dtype === 'F32' && LITTLE_ENDIAN_HOST) return new Float32Array(bytes.slice().buffer, 0, count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
      break;
    case 'BF16':
      for (let i = 0; i < count; i++) out[i] = bf16ToFloat(view.getUint16(2 * i, true));
      break;
  }
  return out;
}

/** Reads every tensor of a safetensors byte string to float32 values. */
export function decodeSafetensors(bytes: Uint8Array, source = '<bytes>'): { tensors: Map<string, DecodedTensor>; metadata: Record<string, string> | null } {
  const header = parseSafetensorsHeader(bytes, source);
  const tensors = new Map<string, DecodedTensor>();
  for (const [name, t] of header.tensors) {
    if (!READABLE.has(t.dtype)) {
      throw new SafetensorsError(`safetensors ${source}: tensor '${name}' has dtype ${t.dtype}; only F32, F16, BF16 and F64 can be read as float32`);
    }
    const [begin, end] = t.dataOffsets;
    const count = sizeOf(t.shape);
    tensors.set(name, { dtype: t.dtype as ReadableDtype, shape: t.shape, values: decodeValues(t.dtype, bytes.subarray(header.dataStart + begin, header.dataStart + end), count) });
  }
  return { tensors, metadata: header.metadata };
}

export interface EncodeOptions {
  /** Free-form string metadata (PyTorch writes {"format": "pt"}). */
  metadata?: Readonly<Record<string, string>>;
  /** Storage dtype of every tensor. Default F32. */
  dtype?: WritableDtype;
}

/** Serialises tensors (in the given order) to a safetensors byte string. */
export function encodeSafetensors(tensors: ReadonlyMap<string, TensorLike> | Readonly<Record<string, TensorLike>>, options: EncodeOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'F32';
  if (!['F32', 'F16', 'BF16'].includes(dtype)) throw new SafetensorsError(`encodeSafetensors: cannot write dtype ${dtype} (F32, F16 or BF16)`);
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, TensorLike>);
  // Header entries are kept as a list: a JS object would move integer-like names ("0") first.
  const header: [string, unknown][] = [];
  if (options.metadata) {
    for (const [k, v] of Object.entries(options.metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`encodeSafetensors: metadata '${k}' must be a string`);
    }
    header.push(['__metadata__', options.metadata]);
  }
  const size = DTYPE_BYTES[dtype]!;
  const blocks: { values: ArrayLike<number>; begin: number }[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new SafetensorsError("encodeSafetensors: '__metadata__' is reserved and cannot name a tensor");
    const shape = [...t.shape];
    const values = t instanceof Tensor ? t.toArray() : t.values;
    const count = sizeOf(shape);
    if (values.length !== count) throw new SafetensorsError(`encodeSafetensors: tensor '${name}' has shape ${JSON.stringify(shape)} but ${values.length} values`);
    header.push([name, { dtype, shape, data_offsets: [offset, offset + count * size] }]);
    blocks.push({ values, begin: offset });
    offset += count * size;
  }
  const json = new TextEncoder().encode(`{${header.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  const dataStart = 8 + padded;
  for (const { values, begin } of blocks) {
    let at = dataStart + begin;
    if (dtype === 'F32' && LITTLE_ENDIAN_HOST && values instanceof Float32Array) {
      out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
      continue;
    }
    for (let i = 0; i < values.length; i++, at += size) {
      const v = values[i]!;
      if (dtype === 'F32') view.setFloat32(at, v, true);
      else view.setUint16(at, dtype === 'F16' ? floatToHalf(v) : floatToBf16(v), true);
    }
  }
  return out;
}

/** Saves tensors (a state dict) as a safetensors file; a crash mid-write never leaves a half file. */
export async function saveSafetensors(path: string, tensors: ReadonlyMap<string, TensorLike> | Readonly<Record<string, TensorLike>>, options: EncodeOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, options));
}

export interface LoadOptions {
  /** Where the tensors are created (default: the default backend). */
  backend?: Backend;
}

/** Loads a safetensors file as float32 tensors (ready for Module.loadStateDict). */
export async function loadSafetensors(path: string, options: LoadOptions = {}): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> | null }> {
  const bytes = await readFile(path);
  const decoded = decodeSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
  const backend = options.backend ?? getDefaultBackend();
  const tensors = new Map<string, Tensor>();
  for (const [name, t] of decoded.tensors) tensors.set(name, wrap(backend.upload(t.values), t.shape));
  return { tensors, metadata: decoded.metadata };
}
