/** What a pending removal is counted at: its key at two bytes a character, and the map entry around it. */
export function removalCost(key: string): number {
  return 2 * key.length + 64;
}

/** What the directory does when removals are dropped over the limit. */
export interface RemovalsOverflow {
  /** Removals dropped now (the oldest first). */
  dropped: number;
  /** True for the first drop since the pending removals were last all written. */
  firstOfEpisode: boolean;
}

/**
 * Keys this replica unregistered that Redis may still hold, each with the
 * number of the change that unregistered it, kept until a write removes
 * them from Redis. Per key only the last change counts; in all they are
 * bounded by `maxBytes`: beyond it the oldest are forgotten (counted in
 * `dropped`), and their entries in Redis end with their leases, which
 * nobody refreshes any more.
 */
export class PendingRemovals {
  private readonly changes = new Map<string, number>();
  private heldBytes = 0;
  private droppedTotal = 0;
  private overflowing = false;

  constructor(
    private readonly maxBytes: number,
    private readonly onOverflow: (overflow: RemovalsOverflow) => void,
  ) {}

  get size(): number {
    return this.changes.size;
  }

  /** Bytes the pending removals are counted at (see removalCost). */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Removals forgotten over the limit since the directory opened. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Each pending key with its change number, oldest first. */
  entries(): Array<[string, number]> {
    return [...this.changes];
  }

  keys(): IterableIterator<string> {
    return this.changes.keys();
  }

  /** `key` was unregistered by change `change`. */
  add(key: string, change: number): void {
    this.delete(key);
    this.changes.set(key, change);
    this.heldBytes += removalCost(key);
    let dropped = 0;
    // Ends by the time none is held: heldBytes is then 0, and maxBytes >= 0 (checked by the directory).
    while (this.heldBytes > this.maxBytes) {
      const [oldest] = this.changes.keys();
      this.delete(oldest!);
      dropped++;
    }
    if (dropped > 0) {
      this.droppedTotal += dropped;
      const firstOfEpisode = !this.overflowing;
      this.overflowing = true;
      this.onOverflow({ dropped, firstOfEpisode });
    }
  }

  /** `key` needs no removal any more (registered again, or removed from Redis); returns whether it was pending. */
  delete(key: string): boolean {
    if (!this.changes.has(key)) {
      return false;
    }
    this.changes.delete(key);
    this.heldBytes -= removalCost(key);
    return true;
  }

  /** A write removed `key` from Redis as of change `change`: forgotten unless a later change made it pending again. */
  written(key: string, change: number): void {
    if (this.changes.get(key) === change) {
      this.delete(key);
    }
    this.settled();
  }

  /** Writes succeeded: once nothing is pending, the next overflow starts a new episode. */
  settled(): void {
    if (this.changes.size === 0) {
      this.overflowing = false;
    }
  }
}
