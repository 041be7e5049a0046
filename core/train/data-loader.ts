/**
 * Dataset -> batches, the torch DataLoader way: seeded shuffling per epoch, batching with a
 * collate function, an optional dropped last partial batch, and prefetching so that the next
 * batches' samples load (image decoding runs on libuv's threads) while a step computes.
 *
 * The order of an epoch is a pure function of (seed, epoch), so a position in the data is
 * just (epoch, batch index): that is what a checkpoint stores, and a resumed run starts
 * exactly at the next batch without replaying anything.
 */
import { ArgumentError } from '../errors.ts';
import { stack } from '../ops/concat.ts';
import { tensor } from '../ops/creation.ts';
import { Generator } from '../random.ts';
import { Tensor } from '../tensor.ts';
import type { Dataset } from '../plugins/tokens.ts';

/** What a loader needs of a dataset: a length and random access (sync or async). */
export type DatasetLike<T> = Pick<Dataset<T>, 'length'> & { get(index: number): T | Promise<T>; readonly name?: string };

export interface DataLoaderOptions<T, B> {
  batchSize?: number;
  /** Reshuffle every epoch (a permutation drawn from seed and epoch). Default true. */
  shuffle?: boolean;
  /** Seed of the shuffling. Default 0. */
  seed?: number;
  /** Drop the last batch of an epoch when it is smaller than batchSize. Default false. */
  dropLast?: boolean;
  /** Batches loaded ahead of the one being used. Default 1 (0 loads on demand). */
  prefetch?: number;
  /** Samples -> batch. Default `defaultCollate` (stacks tensors, gathers the rest into arrays). */
  collate?: (samples: T[]) => B;
}

/** Where a loader stands: the epoch and the index of the next batch in it. */
export interface DataPosition {
  epoch: number;
  batch: number;
}

export interface LoadedBatch<B> {
  batch: B;
  /** The position of this batch (epoch, index in the epoch). */
  position: DataPosition;
  /** The dataset indices it holds. */
  indices: number[];
}

/**
 * Collates samples: tensors are stacked on a new first axis, numbers become a 1-D tensor,
 * anything else (strings, arrays, nested objects) is gathered into an array; objects are
 * collated key by key, so `{ image: Tensor, prompt: string }` gives `{ image: [N, ...], prompt: string[] }`.
 */
export function defaultCollate<T>(samples: T[]): Collated<T> {
  if (samples.length === 0) throw new ArgumentError('defaultCollate: no samples');
  return collateValues(samples as unknown[], 'sample') as Collated<T>;
}

/** The type defaultCollate gives for a sample type. */
export type Collated<T> = T extends Tensor ? Tensor
  : T extends number ? Tensor
  : T extends readonly unknown[] | ArrayBufferView | string | boolean | null | undefined ? T[]
  : T extends object ? { [K in keyof T]: Collated<T[K]> }
  : T[];

function collateValues(values: unknown[], where: string): unknown {
  const first = values[0];
  if (first instanceof Tensor) {
    if (!values.every((v) => v instanceof Tensor)) throw new ArgumentError(`defaultCollate: ${where} is a tensor in some samples and not in others`);
    return stack(values as Tensor[], 0);
  }
  if (typeof first === 'number') {
    if (!values.every((v) => typeof v === 'number')) throw new ArgumentError(`defaultCollate: ${where} is a number in some samples and not in others`);
    return tensor(values as number[]);
  }
  if (first !== null && typeof first === 'object' && !Array.isArray(first) && !ArrayBuffer.isView(first)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) out[key] = collateValues(values.map((v) => (v as Record<string, unknown>)[key]), `${where}.${key}`);
    return out;
  }
  return values;
}

/** A 32-bit seed for (seed, epoch): the epoch's permutation does not depend on earlier epochs. */
function epochSeed(seed: number, epoch: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.floor(seed / 2 ** 32);
  h = Math.imul(h ^ (h >>> 13) ^ epoch, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The order of one epoch's indices: a Fisher-Yates shuffle from (seed, epoch), or 0..n-1. */
export function epochOrder(length: number, epoch: number, options: { shuffle?: boolean; seed?: number } = {}): number[] {
  const order = Array.from({ length }, (_, i) => i);
  if (options.shuffle ?? true) {
    const g = new Generator(epochSeed(options.seed ?? 0, epoch));
    for (let i = length - 1; i > 0; i--) {
      const j = g.int(0, i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
  }
  return order;
}

/**
 * What the trainer needs of a loader: its settings (saved in checkpoints and compared on
 * resume), the epoch length, and batches from a position on. DataLoader is one.
 */
export interface BatchSource<B> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly dataset: { readonly length: number };
  readonly batchesPerEpoch: number;
  batches(start?: DataPosition): AsyncGenerator<LoadedBatch<B>>;
}

export class DataLoader<T, B = Collated<T>> implements BatchSource<B> {
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropLast: boolean;
  readonly prefetch: number;
  private readonly collate: (samples: T[]) => B;

  constructor(readonly dataset: DatasetLike<T>, options: DataLoaderOptions<T, B> = {}) {
    if (!dataset || typeof dataset.get !== 'function' || !Number.isInteger(dataset.length) || dataset.length < 0) {
      throw new ArgumentError('DataLoader: dataset must have an integer length and a get(index) method');
    }
    this.batchSize = options.batchSize ?? 1;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new ArgumentError(`DataLoader: batchSize must be an integer >= 1, got ${this.batchSize}`);
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    if (!Number.isSafeInteger(this.seed)) throw new ArgumentError(`DataLoader: seed must be an integer, got ${this.seed}`);
    this.dropLast = options.dropLast ?? false;
    this.prefetch = options.prefetch ?? 1;
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0) throw new ArgumentError(`DataLoader: prefetch must be an integer >= 0, got ${this.prefetch}`);
    this.collate = options.collate ?? (defaultCollate as unknown as (samples: T[]) => B);
    if (this.batchesPerEpoch === 0) {
      throw new ArgumentError(`DataLoader: dataset${dataset.name ? ` '${dataset.name}'` : ''} has ${dataset.length} samples: no ${this.dropLast ? 'full ' : ''}batch of ${this.batchSize}`);
    }
  }

  /** Batches in one epoch. */
  get batchesPerEpoch(): number {
    const n = this.dataset.length / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The dataset indices of one batch. */
  indicesOf(position: DataPosition): number[] {
    const order = epochOrder(this.dataset.length, position.epoch, this);
    return order.slice(position.batch * this.batchSize, (position.batch + 1) * this.batchSize);
  }

  /** Loads and collates one batch. */
  async load(position: DataPosition): Promise<LoadedBatch<B>> {
    const indices = this.indicesOf(position);
    const samples = await Promise.all(indices.map((i) => this.dataset.get(i)));
    return { batch: this.collate(samples), position, indices };
  }

  /**
   * Batches from `start` on, epoch after epoch without end (the caller decides when to stop),
   * keeping `prefetch` batches loading ahead.
   */
  async *batches(start: DataPosition = { epoch: 0, batch: 0 }): AsyncGenerator<LoadedBatch<B>> {
    if (!(Number.isInteger(start.epoch) && start.epoch >= 0 && Number.isInteger(start.batch) && start.batch >= 0 && start.batch <= this.batchesPerEpoch)) {
      throw new ArgumentError(`DataLoader: invalid start position epoch ${start.epoch}, batch ${start.batch} (${this.batchesPerEpoch} batches an epoch)`);
    }
    let next = start.batch === this.batchesPerEpoch ? { epoch: start.epoch + 1, batch: 0 } : { ...start };
    const advance = (p: DataPosition): DataPosition => (p.batch + 1 === this.batchesPerEpoch ? { epoch: p.epoch + 1, batch: 0 } : { epoch: p.epoch, batch: p.batch + 1 });
    const queue: Promise<LoadedBatch<B>>[] = [];
    try {
      for (;;) {
        while (queue.length <= this.prefetch) {
          const p = this.load(next);
          p.catch(() => undefined); // awaited below in order; avoid an unhandled rejection meanwhile
          queue.push(p);
          next = advance(next);
        }
        yield await queue.shift()!;
      }
    } finally {
      queue.length = 0;
    }
  }
}
