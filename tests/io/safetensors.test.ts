import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AdamW, Linear, SafetensorsError, Sequential, StateDictError, bf16ToFloat, decodeSafetensors, encodeSafetensors, floatToBf16, floatToHalf,
  ReferenceBackend, type Storage, halfToFloat, loadModule, loadOptimizer, mseLoss, randn, saveModule, saveOptimizer, tensor,
} from '../../core/index.ts';
import { loadSafetensors, parseSafetensorsHeader, parseStrictJson, readSafetensorsHeader, saveSafetensors } from '../../core/io/index.ts';
import { JsonDuplicateKeyError, keysInOrder } from '../../core/io/strict-json.ts';

/** Builds a file by hand, exactly as the format describes it. */
function handMade(header: object | string, data: number[] | Uint8Array, pad = true): Uint8Array {
  let json = typeof header === 'string' ? header : JSON.stringify(header);
  if (pad) while (json.length % 8) json += ' ';
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const dir = await mkdtemp(join(tmpdir(), 'st-test-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('safetensors format', () => {
  it('writes exactly the reference layout', () => {
    const bytes = encodeSafetensors(new Map([['a', tensor([1, -2])], ['b.weight', tensor([[0.5]])]]), { metadata: { format: 'pt' } });
    const f32 = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);
    const expected = handMade(
      { __metadata__: { format: 'pt' }, a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, 'b.weight': { dtype: 'F32', shape: [1, 1], data_offsets: [8, 12] } },
      [...f32([1, -2]), ...f32([0.5])],
    );
    expect(Array.from(bytes)).toEqual(Array.from(expected));
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
  });

  it('keeps a metadata key named __proto__ as a key (it must not set the prototype)', () => {
    const metadata = JSON.parse('{"__proto__": "x", "format": "pt"}') as Record<string, string>;
    const back = decodeSafetensors(encodeSafetensors(new Map([['a', tensor([1])]]), { metadata })).metadata!;
    expect(Object.keys(back)).toEqual(['__proto__', 'format']);
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toBe('x');
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it('reads F16, BF16 and F64 to float32', () => {
    const le16 = (v: number[]) => v.flatMap((x) => [x & 0xff, x >> 8]);
    const f64 = new Uint8Array(new Float64Array([0.25]).buffer);
    const bytes = handMade(
      { h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] }, b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] }, d: { dtype: 'F64', shape: [], data_offsets: [12, 20] } },
      [...le16([0x3c00, 0xc000, 0x7bff, 0x0001]), ...le16([0x3f80, 0xc040]), ...f64],
    );
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata).toBeNull();
    expect(Array.from(tensors.get('h')!.values)).toEqual([1, -2, 65504, Math.fround(2 ** -24)]);
    expect(Array.from(tensors.get('b')!.values)).toEqual([1, -3]);
    expect(tensors.get('d')).toMatchObject({ shape: [], values: new Float32Array([0.25]) });
  });

  it('half conversions round-trip every F16 bit pattern and round to nearest even', () => {
    for (let h = 0; h < 0x10000; h++) {
      const f = halfToFloat(h);
      if (Number.isNaN(f)) expect(Number.isNaN(halfToFloat(floatToHalf(f)))).toBe(true);
      else expect(floatToHalf(f)).toBe(h);
    }
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    for (const b of [0x3f80, 0xc040, 0x0001, 0x7f7f]) expect(floatToBf16(bf16ToFloat(b))).toBe(b);
  });

  it('keeps header order for integer-like names (fast-check counter-example)', () => {
    const src = new Map([[' ', { shape: [0], values: new Float32Array(0) }], ['0', { shape: [0], values: new Float32Array(0) }], ['10', { shape: [1], values: Float32Array.of(2) }]]);
    expect([...decodeSafetensors(encodeSafetensors(src)).tensors.keys()]).toEqual([' ', '0', '10']);
  });

  it('round-trips random tensors (F32 exact, F16/BF16 to their precision)', () => {
    const entry = fc.record({
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
      seed: fc.integer({ min: 0, max: 1000 }),
    });
    fc.assert(fc.property(fc.uniqueArray(fc.tuple(fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__'), entry), { selector: (e) => e[0], maxLength: 5 }),
      fc.constantFrom('F32' as const, 'F16' as const, 'BF16' as const), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), (list, dtype, metadata) => {
        const src = new Map(list.map(([name, e]) => [name, { shape: e.shape, values: Float32Array.from(randn(e.shape, { seed: e.seed }).toArray()) }]));
        const bytes = encodeSafetensors(src, { dtype, metadata });
        const back = decodeSafetensors(bytes);
        expect([...back.tensors.keys()]).toEqual([...src.keys()]);
        expect(back.metadata).toEqual(metadata);
        for (const [name, t] of src) {
          const got = back.tensors.get(name)!;
          expect(got.shape).toEqual(t.shape);
          expect(got.dtype).toBe(dtype);
          const want = dtype === 'F32' ? t.values : t.values.map((v) => (dtype === 'F16' ? halfToFloat(floatToHalf(v)) : bf16ToFloat(floatToBf16(v))));
          expect(Array.from(got.values)).toEqual(Array.from(want));
        }
      }), { numRuns: 200 });
  });
});

describe('safetensors rejects bad files with a clear error', () => {
  const good = () => handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8));
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', new Uint8Array(0), /too short/],
    ['truncated data', good().subarray(0, good().length - 1), /outside the 7-byte data area/],
    ['header length past the end', (() => { const b = good(); new DataView(b.buffer).setBigUint64(0, 4096n, true); return b; })(), /runs past the end/],
    ['absurd header length', (() => { const b = good(); new DataView(b.buffer).setBigUint64(0, 2n ** 63n, true); return b; })(), /exceeds the 100000000-byte limit/],
    ['overlap', handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /overlap/],
    ['gap', handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)), /gap/],
    ['extra data', handMade({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(8)), /cover 4 bytes of data but the data area holds 8/],
    ['shape/size mismatch', handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)), /needs 12 bytes, data_offsets give 8/],
    ['duplicate names', handMade('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)), /duplicate tensor name.*"a"/],
    ['unknown dtype', handMade({ a: { dtype: 'F42', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /unknown dtype "F42"/],
    ['negative shape', handMade({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4)), /shape must be an array of integers/],
    ['not json', handMade('{not json}', []), /not valid JSON/],
    ['metadata not strings', handMade({ __metadata__: { a: 1 } }, []), /__metadata__\.a must be a string/],
  ];
  it.each(cases)('%s', (_name, bytes, message) => {
    expect(() => decodeSafetensors(bytes, 'bad.safetensors')).toThrow(SafetensorsError);
    expect(() => decodeSafetensors(bytes, 'bad.safetensors')).toThrow(message);
  });
  it('rejects a raw non-UTF-8 byte in the header', () => {
    const b = handMade('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4));
    b[10] = 0xff;
    expect(() => decodeSafetensors(b)).toThrow(/not valid UTF-8/);
  });
  it('rejects unsupported dtypes at read time, naming the tensor', () => {
    expect(() => decodeSafetensors(handMade({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)))).toThrow(/tensor 'ids' has dtype I64/);
  });
});

describe('safetensors is as strict as the reference (Rust) reader', () => {
  /** One entry over 12 bytes of data; `name` is the raw JSON text of the name, escapes and all. */
  const one = (entry: string, name = '"a"') => handMade(`{${name}:${entry}}`, new Uint8Array(12));
  const cases: [string, Uint8Array, RegExp][] = [
    ['a fractional shape that rounds to an integer', one('{"dtype":"F32","shape":[2.9999999999999999],"data_offsets":[0,12]}'), /tensor 'a': shape must be an array of integers >= 0 \(plain digits\), got \[2\.9999999999999999\]/],
    ['negative zero and an exponent as offsets', one('{"dtype":"F32","shape":[3],"data_offsets":[-0,1.2e1]}'), /tensor 'a': data_offsets must be .*got \[-0,1\.2e1\]/],
    ['a leading zero (not JSON)', one('{"dtype":"F32","shape":[03],"data_offsets":[0,12]}'), /header is not valid JSON/],
    ['three offsets', one('{"dtype":"F32","shape":[3],"data_offsets":[0,12,12]}'), /tensor 'a': data_offsets must be \[begin, end\]/],
    ['a lone surrogate in a name', one('{"dtype":"F32","shape":[3],"data_offsets":[0,12]}', '"\\ud800x"'), /lone UTF-16 surrogate/],
    ['a duplicated field inside an entry', one('{"dtype":"F32","shape":[3],"shape":[3],"data_offsets":[0,12]}'), /tensor 'a': duplicate field "shape"/],
    ['a missing field', one('{"dtype":"F32","data_offsets":[0,12]}'), /tensor 'a': no shape/],
    ['a dtype that is not a string', one('{"dtype":7,"shape":[3],"data_offsets":[0,12]}'), /tensor 'a': dtype must be a string, got 7/],
    ['an integer beyond 2^53', one('{"dtype":"F32","shape":[90071992547409930],"data_offsets":[0,12]}'), /shape must .*got \[90071992547409930\]/],
    ['a 4-bit tensor of an odd length', handMade({ a: { dtype: 'F4', shape: [3], data_offsets: [0, 2] } }, new Uint8Array(2)), /F4 \(4-bit\) does not fill whole bytes/],
    ['a duplicated metadata key', handMade('{"__metadata__":{"k":"1","k":"2"}}', []), /__metadata__: duplicate key "k"/],
    ['a duplicated key inside an unknown field', one('{"dtype":"F32","shape":[3],"data_offsets":[0,12],"x":{"k":1,"k":2}}'), /header is not valid JSON: duplicate key "k"/],
  ];
  it.each(cases)('rejects %s', (_name, bytes, message) => {
    expect(() => parseSafetensorsHeader(bytes, 'x.safetensors')).toThrow(SafetensorsError);
    expect(() => parseSafetensorsHeader(bytes, 'x.safetensors')).toThrow(message);
  });
  it('still reads a name whose escapes form a valid surrogate pair, and ignores unknown fields', () => {
    const h = parseSafetensorsHeader(one('{"dtype":"F32","shape":[3],"data_offsets":[0,12],"extra":{"x":[1.5,-2]}}', '"\\ud83d\\ude00\\n"'));
    expect([...h.tensors.keys()]).toEqual(['\u{1F600}\n']);
  });
  it.each([['F8_E8M0', 4], ['C64', 32], ['F6_E2M3', 3], ['I64', 32]] as const)('names the unsupported dtype %s when reading (4 elements, %i bytes)', (dtype, bytes4) => {
    const bytes = handMade({ w: { dtype, shape: [4], data_offsets: [0, bytes4] } }, new Uint8Array(bytes4));
    expect(parseSafetensorsHeader(bytes).tensors.get('w')!.dtype).toBe(dtype);
    expect(() => decodeSafetensors(bytes, 'q.safetensors')).toThrow(new RegExp(`q\\.safetensors: tensor 'w' has dtype ${dtype}, which is unsupported`));
  });
});

describe('safetensors values that do not fit', () => {
  it('warns when F32 values beyond F16 or BF16 range would be stored as Infinity; refuses with outOfRange: error', () => {
    const src = new Map([['big', tensor([1, 70000, -1e6, 65504])], ['ok', tensor([2])]]);
    const warnings: string[] = [];
    const bytes = encodeSafetensors(src, { dtype: 'F16', warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringMatching(/tensor 'big': 2 of 4 values lie beyond F16's range \(largest \|v\| 1\.00000e\+6\) and are stored as ±Infinity/)]);
    expect(Array.from(decodeSafetensors(bytes, 'x', { nonFinite: 'allow' }).tensors.get('big')!.values)).toEqual([1, Infinity, -Infinity, 65504]);
    expect(() => encodeSafetensors(src, { dtype: 'F16', outOfRange: 'error' })).toThrow(/refused \(outOfRange: 'error'\)/);
    const quiet: string[] = [];
    encodeSafetensors(src, { dtype: 'F16', outOfRange: 'allow', warn: (m) => quiet.push(m) });
    encodeSafetensors(src, { dtype: 'BF16', warn: (m) => quiet.push(m) }); // all within BF16's range
    expect(quiet).toEqual([]);
    encodeSafetensors(new Map([['m', tensor([3.4e38])]]), { dtype: 'BF16', warn: (m) => quiet.push(m) });
    expect(quiet).toEqual([expect.stringMatching(/tensor 'm': 1 of 1 values lie beyond BF16's range/)]);
  });

  it('warns about NaN and infinite weights when reading; refuses them with nonFinite: error', async () => {
    const bytes = encodeSafetensors(new Map([['w', tensor([1, NaN, Infinity, -Infinity])], ['b', tensor([0])]]));
    const warnings: string[] = [];
    const got = decodeSafetensors(bytes, 'nan.safetensors', { warn: (m) => warnings.push(m) });
    expect(Array.from(got.tensors.get('w')!.values)).toEqual([1, NaN, Infinity, -Infinity]);
    expect(warnings).toEqual([expect.stringMatching(/nan\.safetensors: tensor 'w' holds 1 NaN and 2 infinite values of 4/)]);
    expect(() => decodeSafetensors(bytes, 'nan.safetensors', { nonFinite: 'error' })).toThrow(/tensor 'w' holds 1 NaN/);
    const path = join(dir, 'nan.safetensors');
    await writeFile(path, bytes);
    const fileWarnings: string[] = [];
    await loadSafetensors(path, { warn: (m) => fileWarnings.push(m) });
    expect(fileWarnings).toEqual([expect.stringContaining(`${path}: tensor 'w' holds 1 NaN and 2 infinite values`)]);
    await expect(loadSafetensors(path, { nonFinite: 'error' })).rejects.toThrow(SafetensorsError);
  });
});

describe('safetensors files', () => {
  it('loads a file tensor by tensor to the same values as the in-memory decoder (F32, F16, BF16, F64)', async () => {
    const src = new Map([['a', randn([3, 5], { seed: 1 })], ['b', randn([7], { seed: 2 })], ['empty', tensor([], [0, 3])]]);
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const path = join(dir, `file-${dtype}.safetensors`);
      await saveSafetensors(path, src, { dtype, metadata: { k: 'v' } });
      const want = decodeSafetensors(await readFile(path));
      const got = await loadSafetensors(path);
      expect(got.metadata).toEqual({ k: 'v' });
      expect([...got.tensors.keys()]).toEqual(['a', 'b', 'empty']);
      for (const [name, t] of got.tensors) {
        expect(t.shape).toEqual(want.tensors.get(name)!.shape);
        expect(Array.from(t.toArray())).toEqual(Array.from(want.tensors.get(name)!.values));
      }
      expect((await readSafetensorsHeader(path)).tensors.get('a')).toEqual({ dtype, shape: [3, 5], dataOffsets: [0, 15 * (dtype === 'F32' ? 4 : 2)] });
    }
    const f64 = join(dir, 'f64.safetensors');
    await writeFile(f64, handMade({ d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(new Float64Array([0.5, -3]).buffer)));
    expect(Array.from((await loadSafetensors(f64)).tensors.get('d')!.toArray())).toEqual([0.5, -3]);
  });

  it('names the path when the file is missing, a folder, or truncated', async () => {
    await expect(loadSafetensors(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors: no such file/);
    await mkdir(join(dir, 'folder.safetensors'));
    await expect(loadSafetensors(join(dir, 'folder.safetensors'))).rejects.toThrow(/folder\.safetensors: is a folder, not a file/);
    const cut = join(dir, 'cut.safetensors');
    const whole = encodeSafetensors(new Map([['w', tensor([1, 2, 3])]]));
    await writeFile(cut, whole.subarray(0, whole.length - 2));
    await expect(loadSafetensors(cut)).rejects.toThrow(/cut\.safetensors: tensor 'w': data_offsets \[0, 12\] lie outside the 10-byte data area/);
    await writeFile(cut, whole.subarray(0, 5));
    await expect(loadSafetensors(cut)).rejects.toThrow(/cut\.safetensors: file is 5 bytes, too short/);
  });

  it('releases the tensors already read when a later one fails', async () => {
    const disposed: Storage[] = [];
    const backend = new (class extends ReferenceBackend {
      override dispose(st: Storage) {
        disposed.push(st);
      }
    })();
    const path = join(dir, 'late-nan.safetensors');
    await writeFile(path, encodeSafetensors(new Map([['good', tensor([1, 2])], ['bad', tensor([NaN])]])));
    await expect(loadSafetensors(path, { backend, nonFinite: 'error' })).rejects.toThrow(/tensor 'bad' holds 1 NaN/);
    expect(disposed).toHaveLength(1);
  });
});

describe('the strict JSON reader', () => {
  it('parses what JSON.parse does, keeping key order for integer-like keys', () => {
    const text = '{"b": [1, -2.5e3, true, null], "0": {"x": "\\u00e9\\n\\ud83d\\ude00"}, "a": ""}';
    const v = parseStrictJson(text) as Record<string, unknown>;
    expect(v).toEqual(JSON.parse(text));
    expect(keysInOrder(v as never)).toEqual(['b', '0', 'a']);
    fc.assert(fc.property(fc.jsonValue(), (value) => {
      expect(parseStrictJson(JSON.stringify(value))).toEqual(JSON.parse(JSON.stringify(value)));
    }), { numRuns: 300 });
  });
  it('names a duplicate key with the objects around it, and refuses lone surrogates and deep nesting', () => {
    let caught: unknown;
    try {
      parseStrictJson('{"a": {"b": 1, "b": 2}}');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(JsonDuplicateKeyError);
    expect(caught).toMatchObject({ key: 'b', path: ['a'] });
    expect(() => parseStrictJson('["\\udc00"]')).toThrow(/lone UTF-16 surrogate/);
    expect(() => parseStrictJson('[[[[1]]]]', { maxDepth: 3 })).toThrow(/nesting deeper than 3/);
    expect(() => parseStrictJson('{"a": 1} x')).toThrow(/trailing characters/);
    expect(() => parseStrictJson('"a\\x"')).toThrow(/bad escape/);
  });
});

describe('safetensors fuzz', () => {
  const valid = encodeSafetensors(new Map([['w', tensor([[1, 2], [3, 4]])], ['b', tensor([5, 6, 7])]]), { metadata: { format: 'pt' } });
  const onlyOurErrors = (bytes: Uint8Array) => {
    try {
      decodeSafetensors(bytes);
    } catch (e) {
      if (!(e instanceof SafetensorsError)) throw e;
    }
  };
  it('never crashes on thousands of corrupted files: only SafetensorsError', () => {
    const mutation = fc.oneof(
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
        const b = valid.slice();
        for (const [at, v] of flips) b[at % b.length] = v;
        return b;
      }),
      fc.nat().map((n) => valid.slice(0, n % valid.length)),
      fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.boolean()).map(([len, small]) => {
        const b = valid.slice();
        new DataView(b.buffer).setBigUint64(0, small ? len % 256n : len, true);
        return b;
      }),
      fc.uint8Array({ maxLength: 200 }),
      fc.tuple(fc.nat(), fc.string({ maxLength: 20 })).map(([at, s]) => {
        const text = new TextDecoder().decode(valid.subarray(8, 8 + Number(new DataView(valid.buffer).getBigUint64(0, true))));
        const i = at % text.length;
        return handMade(text.slice(0, i) + s + text.slice(i), valid.subarray(valid.length - 20), false);
      }),
    );
    fc.assert(fc.property(mutation, (bytes) => onlyOurErrors(bytes)), { numRuns: 4000 });
  });
});

describe('module and optimiser checkpoints', () => {
  it('saves a module atomically and loads it back; a wrong file lists the keys', async () => {
    const net = new Sequential(new Linear(3, 4, { seed: 1 }), new Linear(4, 2, { seed: 2 }));
    const path = join(dir, 'net.safetensors');
    await saveModule(path, net);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const header = new TextDecoder().decode((await readFile(path)).subarray(8, 200));
    expect(header).toContain('"0.weight":{"dtype":"F32","shape":[4,3]');
    const other = new Sequential(new Linear(3, 4, { seed: 5 }), new Linear(4, 2, { seed: 6 }));
    await loadModule(path, other);
    expect(Array.from(other.at(1).stateDict().get('weight')!.toArray())).toEqual(Array.from(net.at(1).stateDict().get('weight')!.toArray()));
    const wrong = new Sequential(new Linear(3, 5), new Linear(5, 2));
    await expect(loadModule(path, wrong)).rejects.toThrow(StateDictError);
    await expect(loadModule(path, wrong)).rejects.toThrow(/0\.weight expects \[5, 3\], got \[4, 3\]/);
  });

  it('saves and restores optimiser state', async () => {
    const make = () => new Linear(2, 1, { seed: 3 });
    const x = randn([4, 2], { seed: 1 });
    const y = randn([4, 1], { seed: 2 });
    const stepN = (m: Linear, o: AdamW, n: number) => { for (let i = 0; i < n; i++) { o.zeroGrad(); mseLoss(m.forward(x), y).backward(); o.step(); } };
    const a = make();
    const oa = new AdamW(a.parameters(), { lr: 0.1 });
    stepN(a, oa, 3);
    await saveOptimizer(join(dir, 'opt.safetensors'), oa);
    await saveModule(join(dir, 'lin.safetensors'), a);
    stepN(a, oa, 2);
    const b = make();
    await loadModule(join(dir, 'lin.safetensors'), b);
    const ob = new AdamW(b.parameters(), { lr: 0.7 });
    await loadOptimizer(join(dir, 'opt.safetensors'), ob);
    stepN(b, ob, 2);
    expect(Array.from(b.weight.toArray())).toEqual(Array.from(a.weight.toArray()));
    await expect(loadOptimizer(join(dir, 'lin.safetensors'), ob)).rejects.toThrow(/not an optimiser checkpoint/);
  });

  it('loading releases the tensors it read from the file (on a GPU they would stay allocated)', async () => {
    const uploads = new Set<Storage>();
    const disposed = new Set<Storage>();
    const backend = new (class extends ReferenceBackend {
      override upload(values: ArrayLike<number>) {
        const st = super.upload(values);
        uploads.add(st);
        return st;
      }
      override dispose(st: Storage) {
        disposed.add(st);
      }
    })();
    const src = new Linear(2, 3, { seed: 1 });
    const opt = new AdamW(src.parameters());
    mseLoss(src.forward(randn([4, 2], { seed: 2 })), randn([4, 3], { seed: 3 })).backward();
    opt.step();
    await saveModule(join(dir, 'rel.safetensors'), src);
    await saveOptimizer(join(dir, 'rel-opt.safetensors'), opt);
    const m = new Linear(2, 3, { seed: 4, backend });
    const mo = new AdamW(m.parameters());
    uploads.clear();
    await loadModule(join(dir, 'rel.safetensors'), m);
    await loadOptimizer(join(dir, 'rel-opt.safetensors'), mo);
    await expect(loadOptimizer(join(dir, 'rel.safetensors'), mo)).rejects.toThrow(/not an optimiser checkpoint/);
    expect(uploads.size).toBe(2 + 4 + 2); // weight and bias, their two moments, the failed load's two tensors
    for (const st of uploads) expect(disposed.has(st)).toBe(true);
    expect(disposed.has(m.weight.storage)).toBe(false);
    expect(Array.from(m.weight.toArray())).toEqual(Array.from(src.weight.toArray()));
  });
});
