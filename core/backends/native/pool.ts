/**
 * Host buffers reused by size: a released Float32Array waits in its size's bucket until a
 * kernel needs an output of exactly that size again. A training step repeats the same sizes
 * every step, so after the first step it allocates nothing and feeds the GC nothing.
 */
export interface BufferPoolStats {
  /** Buffers created since the pool was made (a flat count over steps means no churn). */
  allocations: number;
  /** Buffers waiting in the pool, and their bytes. */
  pooledBuffers: number;
  pooledBytes: number;
}

export class BufferPool {
  private readonly buckets = new Map<number, Float32Array[]>();
  private allocations = 0;
  private pooledBuffers = 0;
  private pooledBytes = 0;

  /** @param maxBytes bytes the pool may hold; buffers released past it are left to the GC. */
  constructor(readonly maxBytes: number) {}

  take(size: number): Float32Array {
    const buf = this.buckets.get(size)?.pop();
    if (buf) {
      this.pooledBuffers--;
      this.pooledBytes -= buf.byteLength;
      return buf;
    }
    this.allocations++;
    return new Float32Array(size);
  }

  give(buf: Float32Array): void {
    if (this.pooledBytes + buf.byteLength > this.maxBytes) return;
    let bucket = this.buckets.get(buf.length);
    if (!bucket) {
      bucket = [];
      this.buckets.set(buf.length, bucket);
    }
    bucket.push(buf);
    this.pooledBuffers++;
    this.pooledBytes += buf.byteLength;
  }

  /** Drops every pooled buffer (the GC reclaims them). */
  clear(): void {
    this.buckets.clear();
    this.pooledBuffers = 0;
    this.pooledBytes = 0;
  }

  get stats(): BufferPoolStats {
    return { allocations: this.allocations, pooledBuffers: this.pooledBuffers, pooledBytes: this.pooledBytes };
  }
}
