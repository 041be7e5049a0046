/** DataLoader: per-epoch seeded shuffling, positions, dropLast, collation, prefetch. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DataLoader, DataLoaderError, type Tensor, defaultCollate, epochOrder, tensor } from '../../core/index.ts';

const numbers = (n: number, calls: number[] = []) => ({
  length: n,
  get: (i: number) => {
    calls.push(i);
    return { x: tensor([i, -i]), id: i, label: `s${i}` };
  },
});

async function take<B>(it: AsyncGenerator<B>, n: number): Promise<B[]> {
  const out: B[] = [];
  for (let i = 0; i < n; i++) out.push((await it.next()).value as B);
  await it.return(undefined);
  return out;
}

describe('DataLoader', () => {
  it('each epoch is a permutation that depends only on (seed, epoch)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 1000 }), (n, seed, epoch) => {
      const order = epochOrder(n, epoch, { seed });
      expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(epochOrder(n, epoch, { seed })).toEqual(order);
    }));
    expect(epochOrder(20, 0, { seed: 1 })).not.toEqual(epochOrder(20, 1, { seed: 1 }));
    expect(epochOrder(20, 0, { seed: 1 })).not.toEqual(epochOrder(20, 0, { seed: 2 }));
    expect(epochOrder(5, 3, { shuffle: false })).toEqual([0, 1, 2, 3, 4]);
  });

  it('collates tensors by stacking, numbers into a tensor, strings into arrays; runs across epochs', async () => {
    const loader = new DataLoader(numbers(5), { batchSize: 2, seed: 4 });
    expect(loader.batchesPerEpoch).toBe(3);
    const batches = await take(loader.batches(), 6);
    expect(batches.map((b) => b.position)).toEqual([
      { epoch: 0, batch: 0 }, { epoch: 0, batch: 1 }, { epoch: 0, batch: 2 }, { epoch: 1, batch: 0 }, { epoch: 1, batch: 1 }, { epoch: 1, batch: 2 },
    ]);
    const epoch0 = batches.slice(0, 3).flatMap((b) => b.indices);
    expect(epoch0).toEqual(epochOrder(5, 0, { seed: 4 }));
    const first = batches[0]!;
    const x: Tensor = first.batch.x;
    expect(x.shape).toEqual([2, 2]);
    expect(x.tolist()).toEqual(first.indices.map((i) => [i, -i]));
    expect(first.batch.id.tolist()).toEqual(first.indices);
    expect(first.batch.label).toEqual(first.indices.map((i) => `s${i}`));
    expect(batches[2]!.indices).toHaveLength(1); // the last partial batch
  });

  it('starts at a saved position with the same batches an uninterrupted pass gives', async () => {
    const loader = new DataLoader(numbers(7), { batchSize: 3, seed: 9, dropLast: true });
    expect(loader.batchesPerEpoch).toBe(2);
    const all = await take(loader.batches(), 5);
    const resumed = await take(loader.batches({ epoch: 0, batch: 1 }), 4);
    expect(resumed.map((b) => b.indices)).toEqual(all.slice(1).map((b) => b.indices));
    const atEnd = await take(loader.batches({ epoch: 1, batch: 2 }), 1); // end of epoch 1 = start of epoch 2
    expect(atEnd[0]!.position).toEqual({ epoch: 2, batch: 0 });
  });

  it('prefetches: the next batches load while the current one is used', async () => {
    const calls: number[] = [];
    const loader = new DataLoader(numbers(12, calls), { batchSize: 2, shuffle: false, prefetch: 2 });
    const it = loader.batches();
    await it.next();
    expect(calls).toEqual([0, 1, 2, 3, 4, 5]); // the batch handed out and two ahead
    await it.return(undefined);
  });

  it('says what is wrong with bad options and data', () => {
    expect(() => new DataLoader(numbers(3), { batchSize: 0 })).toThrow(/batchSize must be an integer >= 1, got 0/);
    expect(() => new DataLoader(numbers(3), { batchSize: 4, dropLast: true })).toThrow(/3 samples: no full batch of 4/);
    expect(() => defaultCollate([{ a: tensor([1]) }, { a: 'x' }])).toThrow(/sample\.a is a tensor in some samples/);
  });

  it('a sample that fails to load is named with its dataset, index and position', async () => {
    const broken = { name: 'photos', length: 4, get: async (i: number) => { if (i === 2) throw new Error('bad PNG header'); return { v: i }; } };
    const loader = new DataLoader(broken, { batchSize: 2, shuffle: false });
    await expect(loader.load({ epoch: 3, batch: 1 })).rejects.toThrow(/^DataLoader: dataset 'photos' sample 2 \(epoch 3, batch 1\): bad PNG header$/);
    const err = await loader.load({ epoch: 0, batch: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataLoaderError);
    expect(((err as Error).cause as Error).message).toBe('bad PNG header');
  });
});
