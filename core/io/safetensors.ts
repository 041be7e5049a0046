/**
 * safetensors, byte-compatible with the reference library: an 8-byte little-endian header
 * length N, N bytes of UTF-8 JSON {name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {string: string}} padded with spaces to a multiple of 8, then the
 * little-endian row-major data, offsets relative to its start.
 *
 * The reader treats the file as hostile: every length is checked against the bytes actually
 * present before anything is allocated, duplicate names are detected (JSON.parse would hide
 * them), and the tensors must tile the data area exactly, as the reference reader demands.
 * Every failure is a SafetensorsError naming the file and the tensor at fault. Files are read
 * tensor by tensor with positioned reads, so their size is bounded by the disk, not by a
 * single read or a single buffer.
 */
import { type FileHandle, open } from 'node:fs/promises';
import type { Backend } from '../backend.ts';
import { getDefaultBackend } from '../backends/default.ts';
import { Tensor } from '../tensor.ts';
import { wrap } from '../ops/util.ts';
import { sizeOf } from '../shape.ts';
import { writeFileAtomic } from './atomic.ts';
import { bf16ToFloat, floatToBf16, floatToHalf, halfToFloat } from './half.ts';
import { JsonDuplicateKeyError, JsonReader, JsonSyntaxError } from './strict-json.ts';

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** The reference reader's cap on the header size. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Bits per element of every dtype the format defines (all are validated; the float ones are read). */
const DTYPE_BITS = new Map<string, number>([
  ['BOOL', 8], ['F4', 4], ['F6_E2M3', 6], ['F6_E3M2', 6], ['U8', 8], ['I8', 8], ['F8_E5M2', 8], ['F8_E4M3', 8], ['F8_E8M0', 8],
  ['I16', 16], ['U16', 16], ['F16', 16], ['BF16', 16], ['I32', 32], ['U32', 32], ['F32', 32], ['C64', 64], ['F64', 64], ['I64', 64], ['U64', 64],
]);
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

type Fail = (msg: string) => SafetensorsError;
const failFor = (source: string): Fail => (msg) => new SafetensorsError(`safetensors ${source}: ${msg}`);

/** The header length N from the file's first 8 bytes, checked against the file's size. */
function headerLength(prefix: Uint8Array, fileBytes: number, err: Fail): number {
  if (fileBytes < 8) throw err(`file is ${fileBytes} bytes, too short for the 8-byte header length`);
  const n64 = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) throw err(`header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (8 + n > fileBytes) throw err(`header length ${n} runs past the end of the file (${fileBytes} bytes): truncated file?`);
  if (n < 2) throw err(`header length ${n} is too small for a JSON object`);
  return n;
}

/** A JSON value's text, shortened for an error message. */
const clip = (text: string) => (text.length > 60 ? `${text.slice(0, 57)}...` : text);

/**
 * Reads the safetensors header's JSON straight into entries, with no generic tree and no
 * per-entry closures or sets, so time and memory stay a small multiple of the header (a
 * crafted 100 MB header of ~2 M tiny entries is the worst case). A value of the wrong kind
 * is reported by its field's name.
 */
class HeaderReader {
  /** In the header's order; the map is also the duplicate check. */
  readonly tensors = new Map<string, TensorEntry>();
  metadata: Record<string, string> | null = null;
  private readonly r: JsonReader;

  constructor(private readonly text: string, private readonly dataLength: number, private readonly err: Fail) {
    this.r = new JsonReader(text, 8);
  }

  read(): void {
    const r = this.r;
    let hasMetadata = false;
    r.expect('{');
    if (!r.accept('}')) {
      for (;;) {
        if (r.peek() !== '"') r.fail('expected a string key');
        const name = r.string();
        if (name === '__metadata__' ? hasMetadata : this.tensors.has(name)) throw this.err(`duplicate tensor name ${JSON.stringify(name)}`);
        r.expect(':');
        if (name === '__metadata__') {
          hasMetadata = true;
          this.readMetadata();
        } else {
          this.readEntry(name);
        }
        if (r.accept(',')) continue;
        if (r.accept('}')) break;
        r.fail(r.atEnd() ? "unexpected end of input, expected ',' or '}'" : "expected ',' or '}'");
      }
    }
    r.end();
  }

  /** The error for a value of the wrong kind at `start` (the value is skipped first, so broken JSON fails as such). */
  private wrongValue(start: number, what: string): SafetensorsError {
    this.r.pos = start;
    this.r.value();
    return this.err(`${what}, got ${clip(this.text.slice(start, this.r.pos).trim())}`);
  }

  private readMetadata(): void {
    const r = this.r;
    const start = r.pos;
    if (r.peek() !== '{') throw this.wrongValue(start, '__metadata__ must be an object of strings');
    const md = new Map<string, string>();
    try {
      r.object((k) => {
        const at = r.pos;
        if (r.peek() !== '"') throw this.wrongValue(at, `__metadata__.${k} must be a string`);
        md.set(k, r.string());
      });
    } catch (e) {
      if (e instanceof JsonDuplicateKeyError) throw this.err(`__metadata__: duplicate key ${JSON.stringify(e.key)}`);
      throw e;
    }
    // fromEntries defines own properties: a key "__proto__" stays a key instead of setting the prototype.
    this.metadata = Object.fromEntries(md) as Record<string, string>;
  }

  /** `[n, ...]` of plain unsigned integers; anything else is reported as `what`. */
  private integers(what: string): number[] {
    const r = this.r;
    const start = r.pos;
    const out: number[] = [];
    try {
      r.expect('[');
      if (!r.accept(']')) {
        for (;;) {
          r.peek();
          out.push(r.unsignedInteger());
          if (r.accept(',')) continue;
          if (r.accept(']')) break;
          r.fail("expected ',' or ']'");
        }
      }
    } catch (e) {
      if (e instanceof JsonSyntaxError) throw this.wrongValue(start, what);
      throw e;
    }
    return out;
  }

  private readEntry(name: string): void {
    const { r, err } = this;
    const start = r.pos;
    if (r.peek() !== '{') throw this.wrongValue(start, `tensor '${name}': entry must be an object`);
    r.pos++;
    let dtype: string | undefined;
    let shape: number[] | undefined;
    let offsets: number[] | undefined;
    if (!r.accept('}')) {
      for (;;) {
        if (r.peek() !== '"') r.fail('expected a string key');
        const key = r.string();
        r.expect(':');
        if ((key === 'dtype' && dtype) || (key === 'shape' && shape) || (key === 'data_offsets' && offsets)) {
          throw err(`tensor '${name}': duplicate field ${JSON.stringify(key)}`);
        }
        if (key === 'dtype') {
          const at = r.pos;
          if (r.peek() !== '"') throw this.wrongValue(at, `tensor '${name}': dtype must be a string`);
          dtype = r.string();
        } else if (key === 'shape') {
          shape = this.integers(`tensor '${name}': shape must be an array of integers >= 0 (plain digits)`);
        } else if (key === 'data_offsets') {
          const at = r.pos;
          offsets = this.integers(`tensor '${name}': data_offsets must be [begin, end] integers >= 0 (plain digits)`);
          if (offsets.length !== 2) throw this.wrongValue(at, `tensor '${name}': data_offsets must be [begin, end] integers >= 0 (plain digits)`);
        } else {
          r.value(); // unknown fields are ignored, as the reference reader does
        }
        if (r.accept(',')) continue;
        if (r.accept('}')) break;
        r.fail(r.atEnd() ? "unexpected end of input, expected ',' or '}'" : "expected ',' or '}'");
      }
    }
    if (dtype === undefined) throw err(`tensor '${name}': no dtype`);
    if (shape === undefined) throw err(`tensor '${name}': no shape`);
    if (offsets === undefined) throw err(`tensor '${name}': no data_offsets`);
    const bits = DTYPE_BITS.get(dtype);
    if (bits === undefined) throw err(`tensor '${name}': unknown dtype ${JSON.stringify(dtype)}`);
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw err(`tensor '${name}': data_offsets [${begin}, ${end}] run backwards`);
    if (end > this.dataLength) throw err(`tensor '${name}': data_offsets [${begin}, ${end}] lie outside the ${this.dataLength}-byte data area (truncated file?)`);
    let count = 1;
    for (const d of shape) {
      count *= d;
      if (count > Number.MAX_SAFE_INTEGER) throw err(`tensor '${name}': shape ${JSON.stringify(shape)} is absurdly large`);
    }
    const bytes = end - begin;
    if (count > (bytes * 8) / bits || count * bits !== bytes * 8) {
      const need = (count * bits) / 8;
      throw err(Number.isInteger(need)
        ? `tensor '${name}': shape ${JSON.stringify(shape)} of ${dtype} needs ${need} bytes, data_offsets give ${bytes}`
        : `tensor '${name}': shape ${JSON.stringify(shape)} of ${dtype} (${bits}-bit) does not fill whole bytes`);
    }
    this.tensors.set(name, { dtype, shape, dataOffsets: [begin, end] });
  }
}

/** Parses the N header bytes against a data area of `dataLength` bytes. */
function parseHeaderJson(headerBytes: Uint8Array, dataLength: number, err: Fail): Omit<SafetensorsHeader, 'dataStart'> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw err('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw err("header does not start with '{'");
  const h = new HeaderReader(text, dataLength, err);
  try {
    h.read();
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw err(`header is not valid JSON: ${e.message}`);
    throw e;
  }
  // The tensors must tile the data area: in offset order, each starts where the previous
  // ends. Writers list them in that order, so the sort is usually skipped.
  let tensors = h.tensors;
  let sorted = true;
  let prev: [number, number] = [0, 0];
  for (const t of tensors.values()) {
    const [b, e] = t.dataOffsets;
    if (b < prev[0] || (b === prev[0] && e < prev[1])) {
      sorted = false;
      break;
    }
    prev = t.dataOffsets;
  }
  // Listed in data order, which is the writer's order (JSON objects do not keep "0" in place).
  if (!sorted) tensors = new Map([...tensors].sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]));
  let at = 0;
  for (const [name, t] of tensors) {
    const [begin, end] = t.dataOffsets;
    if (begin < at) throw err(`tensor '${name}': data_offsets [${begin}, ${end}] overlap the previous tensor (which ends at ${at})`);
    if (begin > at) throw err(`tensor '${name}': data_offsets [${begin}, ${end}] leave a gap after byte ${at}`);
    at = end;
  }
  if (at !== dataLength) throw err(`the tensors cover ${at} bytes of data but the data area holds ${dataLength}`);
  return { tensors, metadata: h.metadata };
}

/** Parses and validates the header of a safetensors byte string (no tensor data is touched). */
export function parseSafetensorsHeader(bytes: Uint8Array, source = '<bytes>'): SafetensorsHeader {
  const err = failFor(source);
  const n = headerLength(bytes, bytes.length, err);
  const dataStart = 8 + n;
  return { ...parseHeaderJson(bytes.subarray(8, dataStart), bytes.length - dataStart, err), dataStart };
}

/** The file format is little-endian; so is every host Node runs on in practice, but check. */
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decodeValues(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  // F32 on a little-endian host is one copy into a fresh buffer, which also gives the 4-byte
  // alignment a view needs (not slice(): on a Node Buffer it is a view, not a copy).
  if (dtype === 'F32' && LITTLE_ENDIAN_HOST) return new Float32Array(new Uint8Array(bytes).buffer, 0, count);
  return decodeInto(dtype, bytes, new Float32Array(count));
}

/** Converts little-endian values of a readable dtype into `out` (one per element). */
function decodeInto(dtype: string, bytes: Uint8Array, out: Float32Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = out.length;
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

/** What to do about a value that does not fit: say so (default), refuse, or let it pass. */
export type ValuePolicy = 'warn' | 'error' | 'allow';

const defaultWarn = (message: string) => process.emitWarning(message, { type: 'SafetensorsWarning' });

export interface DecodeOptions {
  /** NaN or ±Infinity among a tensor's values: warn (default), refuse, or allow. */
  nonFinite?: ValuePolicy;
  /** Where warnings go (default: process.emitWarning, type 'SafetensorsWarning'). */
  warn?: (message: string) => void;
}

/** Applies the non-finite policy to one decoded tensor. */
function checkFinite(values: Float32Array, name: string, err: Fail, options: DecodeOptions): void {
  const policy = options.nonFinite ?? 'warn';
  if (policy === 'allow') return;
  let nan = 0;
  let inf = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) {
      if (v !== v) nan++;
      else inf++;
    }
  }
  if (nan + inf === 0) return;
  const e = err(`tensor '${name}' holds ${nan} NaN and ${inf} infinite values of ${values.length}`);
  if (policy === 'error') throw e;
  (options.warn ?? defaultWarn)(`${e.message} (they load as they are; nonFinite: 'error' refuses such a file)`);
}

const unreadable = (name: string, dtype: string, err: Fail) =>
  err(`tensor '${name}' has dtype ${dtype}, which is unsupported: only F32, F16, BF16 and F64 can be read as float32`);

/** Reads every tensor of a safetensors byte string to float32 values. */
export function decodeSafetensors(bytes: Uint8Array, source = '<bytes>', options: DecodeOptions = {}): { tensors: Map<string, DecodedTensor>; metadata: Record<string, string> | null } {
  const header = parseSafetensorsHeader(bytes, source);
  const err = failFor(source);
  const tensors = new Map<string, DecodedTensor>();
  for (const [name, t] of header.tensors) {
    if (!READABLE.has(t.dtype)) throw unreadable(name, t.dtype, err);
    const [begin, end] = t.dataOffsets;
    const values = decodeValues(t.dtype, bytes.subarray(header.dataStart + begin, header.dataStart + end), sizeOf(t.shape));
    checkFinite(values, name, err, options);
    tensors.set(name, { dtype: t.dtype as ReadableDtype, shape: t.shape, values });
  }
  return { tensors, metadata: header.metadata };
}

export interface EncodeOptions {
  /** Free-form string metadata (PyTorch writes {"format": "pt"}). */
  metadata?: Readonly<Record<string, string>>;
  /** Storage dtype of every tensor. Default F32. */
  dtype?: WritableDtype;
  /**
   * Finite values beyond the storage dtype's range (|v| >= 65520 in F16, near float32's
   * maximum in BF16), which would be stored as ±Infinity: warn (default), refuse, or allow.
   */
  outOfRange?: ValuePolicy;
  /** Where warnings go (default: process.emitWarning, type 'SafetensorsWarning'). */
  warn?: (message: string) => void;
}

/** Serialises tensors (in the given order) to a safetensors byte string. */
export function encodeSafetensors(tensors: ReadonlyMap<string, TensorLike> | Readonly<Record<string, TensorLike>>, options: EncodeOptions = {}): Uint8Array {
  const dtype = options.dtype ?? 'F32';
  if (!['F32', 'F16', 'BF16'].includes(dtype)) throw new SafetensorsError(`encodeSafetensors: cannot write dtype ${dtype} (F32, F16 or BF16)`);
  const outOfRange = options.outOfRange ?? 'warn';
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, TensorLike>);
  // Header entries are kept as a list: a JS object would move integer-like names ("0") first.
  const header: [string, unknown][] = [];
  if (options.metadata) {
    for (const [k, v] of Object.entries(options.metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(`encodeSafetensors: metadata '${k}' must be a string`);
    }
    header.push(['__metadata__', options.metadata]);
  }
  const size = dtype === 'F32' ? 4 : 2;
  const blocks: { name: string; values: ArrayLike<number>; begin: number }[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new SafetensorsError("encodeSafetensors: '__metadata__' is reserved and cannot name a tensor");
    const shape = [...t.shape];
    const values = t instanceof Tensor ? t.toArray() : t.values;
    const count = sizeOf(shape);
    if (values.length !== count) throw new SafetensorsError(`encodeSafetensors: tensor '${name}' has shape ${JSON.stringify(shape)} but ${values.length} values`);
    header.push([name, { dtype, shape, data_offsets: [offset, offset + count * size] }]);
    blocks.push({ name, values, begin: offset });
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
  for (const { name, values, begin } of blocks) {
    let at = dataStart + begin;
    if (dtype === 'F32' && LITTLE_ENDIAN_HOST && values instanceof Float32Array) {
      out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
      continue;
    }
    let overflowed = 0;
    let largest = 0;
    for (let i = 0; i < values.length; i++, at += size) {
      const v = values[i]!;
      let stored: number;
      if (dtype === 'F32') {
        view.setFloat32(at, v, true);
        stored = Math.fround(v);
      } else if (dtype === 'F16') {
        const bits = floatToHalf(v);
        view.setUint16(at, bits, true);
        stored = (bits & 0x7fff) === 0x7c00 ? Infinity : 0;
      } else {
        const bits = floatToBf16(v);
        view.setUint16(at, bits, true);
        stored = (bits & 0x7fff) === 0x7f80 ? Infinity : 0;
      }
      // A finite value stored as an infinity lies beyond the dtype's range.
      if (stored - stored !== 0 && stored === stored && Number.isFinite(v)) {
        overflowed++;
        largest = Math.max(largest, Math.abs(v));
      }
    }
    if (overflowed > 0 && outOfRange !== 'allow') {
      const message = `encodeSafetensors: tensor '${name}': ${overflowed} of ${values.length} values lie beyond ${dtype}'s range (largest |v| ${largest.toPrecision(6)}) and are stored as ±Infinity`;
      if (outOfRange === 'error') throw new SafetensorsError(`${message}; refused (outOfRange: 'error'): save as F32, or scale the values`);
      (options.warn ?? defaultWarn)(message);
    }
  }
  return out;
}

/** Saves tensors (a state dict) as a safetensors file; a crash mid-write never leaves a half file. */
export async function saveSafetensors(path: string, tensors: ReadonlyMap<string, TensorLike> | Readonly<Record<string, TensorLike>>, options: EncodeOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, options));
}

export interface LoadOptions extends DecodeOptions {
  /** Where the tensors are created (default: the default backend). */
  backend?: Backend;
}

/** Reads exactly `length` bytes at `position` into `into` (several reads: one read() stops short of 2 GiB). */
async function readFully(fh: FileHandle, into: Uint8Array, position: number, err: Fail, what: string): Promise<void> {
  const CHUNK = 1 << 30;
  for (let done = 0; done < into.length;) {
    const want = Math.min(CHUNK, into.length - done);
    const { bytesRead } = await fh.read(into, done, want, position + done);
    if (bytesRead === 0) throw err(`the file ended at byte ${position + done} while reading ${what}: it changed or was truncated while loading`);
    done += bytesRead;
  }
}

/** Opens a file for reading; failures become SafetensorsErrors naming the path. */
async function openForReading(path: string, err: Fail): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw err(code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : `cannot open (${(e as Error).message})`);
  }
  const info = await fh.stat();
  if (!info.isFile()) {
    await fh.close();
    throw err(info.isDirectory() ? 'is a folder, not a file' : 'is not a regular file');
  }
  return { fh, size: info.size };
}

/** Reads and validates a safetensors file's header only (no tensor data is read). */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const err = failFor(path);
  const { fh, size } = await openForReading(path, err);
  try {
    return await readHeaderFrom(fh, size, err);
  } finally {
    await fh.close();
  }
}

async function readHeaderFrom(fh: FileHandle, size: number, err: Fail): Promise<SafetensorsHeader> {
  const prefix = new Uint8Array(8);
  if (size >= 8) await readFully(fh, prefix, 0, err, 'the header length');
  const n = headerLength(prefix, size, err);
  const headerBytes = new Uint8Array(n);
  await readFully(fh, headerBytes, 8, err, 'the header');
  return { ...parseHeaderJson(headerBytes, size - 8 - n, err), dataStart: 8 + n };
}

/**
 * Loads a safetensors file as float32 tensors (ready for Module.loadStateDict). The file is
 * read tensor by tensor with positioned reads through one buffer the size of the largest
 * tensor, so files of any size load (a single read stops short of 2 GiB) and the memory
 * it costs is about the float32 tensors' own size.
 */
export async function loadSafetensors(path: string, options: LoadOptions = {}): Promise<{ tensors: Map<string, Tensor>; metadata: Record<string, string> | null }> {
  const err = failFor(path);
  const { fh, size } = await openForReading(path, err);
  const backend = options.backend ?? getDefaultBackend();
  const tensors = new Map<string, Tensor>();
  try {
    const header = await readHeaderFrom(fh, size, err);
    let largestBytes = 0;
    let largestCount = 0;
    for (const [name, t] of header.tensors) {
      if (!READABLE.has(t.dtype)) throw unreadable(name, t.dtype, err);
      largestBytes = Math.max(largestBytes, t.dataOffsets[1] - t.dataOffsets[0]);
      if (t.dtype !== 'F32') largestCount = Math.max(largestCount, sizeOf(t.shape));
    }
    // Own ArrayBuffers (offset 0): an F32 tensor is used in place, which needs 4-byte alignment.
    const raw = new Uint8Array(new ArrayBuffer(largestBytes));
    const converted = new Float32Array(largestCount);
    for (const [name, t] of header.tensors) {
      const [begin, end] = t.dataOffsets;
      const count = sizeOf(t.shape);
      const bytes = raw.subarray(0, end - begin);
      await readFully(fh, bytes, header.dataStart + begin, err, `tensor '${name}'`);
      const values = t.dtype === 'F32' && LITTLE_ENDIAN_HOST
        ? new Float32Array(raw.buffer, 0, count)
        : decodeInto(t.dtype, bytes, converted.subarray(0, count));
      checkFinite(values, name, err, options);
      tensors.set(name, wrap(backend.upload(values), t.shape));
    }
    return { tensors, metadata: header.metadata };
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  } finally {
    await fh.close();
  }
}
