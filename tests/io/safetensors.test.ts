import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AdamW, Linear, SafetensorsError, Sequential, StateDictError, bf16ToFloat, decodeSafetensors, encodeSafetensors, floatToBf16, floatToHalf,
  ReferenceBackend, type Storage, halfToFloat, loadModule, loadOptimizer, mseLoss, randn, saveModule, saveOptimizer, tensor,
} from '../../core/index.ts';

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
