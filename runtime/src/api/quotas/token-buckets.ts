/** A rate: so many units per second, with bursts up to `burst` units. */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

/** One token bucket: full at `burst`, refilled at `perSecond`; may go into debt (bytes charged after the fact). */
class Bucket {
  tokens: number;
  at: number;

  constructor(burst: number, now: number) {
    this.tokens = burst;
    this.at = now;
  }

  refill(rate: Rate, now: number): void {
    this.tokens = Math.min(rate.burst, this.tokens + ((now - this.at) / 1000) * rate.perSecond);
    this.at = now;
  }
}

/**
 * Token buckets by name (an affinity key, a caller), at most `maxEntries`:
 * beyond, the least recently used bucket is forgotten (a Map keeps insertion
 * order; a bucket used is moved to its end). A forgotten bucket comes back
 * full, so the cap only ever errs towards letting calls through, and only for
 * names unused for longer than `maxEntries` other names took.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly rate: Rate,
    private readonly maxEntries: number,
  ) {}

  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes `cost` tokens from `name`'s bucket if it holds that many and
   * returns 0; else takes nothing (with `consume` false, never) and returns
   * the ms until it would hold them.
   */
  take(name: string, cost: number, now: number, consume = true): number {
    const bucket = this.touch(name, now);
    if (bucket.tokens >= cost) {
      if (consume) {
        bucket.tokens -= cost;
      }
      return 0;
    }
    return Math.max(1, Math.ceil(((cost - bucket.tokens) / this.rate.perSecond) * 1000));
  }

  /** Charges `cost` tokens whatever the bucket holds (it may go into debt). */
  charge(name: string, cost: number, now: number): void {
    this.touch(name, now).tokens -= cost;
  }

  private touch(name: string, now: number): Bucket {
    let bucket = this.buckets.get(name);
    if (bucket === undefined) {
      bucket = new Bucket(this.rate.burst, now);
      if (this.buckets.size >= this.maxEntries) {
        this.buckets.delete(this.buckets.keys().next().value!);
      }
    } else {
      this.buckets.delete(name);
      bucket.refill(this.rate, now);
    }
    this.buckets.set(name, bucket);
    return bucket;
  }
}
