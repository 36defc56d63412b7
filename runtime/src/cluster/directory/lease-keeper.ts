import type { TunnelError } from "../../errors.js";
import { PendingRemovals, type RemovalsOverflow } from "./pending-removals.js";
import type { RedisConnection } from "./redis-connection.js";
import { batches, type ReplicaCommands } from "./redis-layout.js";

/** How a LeaseKeeper bounds what it keeps for Redis while Redis cannot be written. */
export interface PendingLimits {
  /** Pending removals are counted at most this many bytes (see removalCost); the oldest are dropped beyond. */
  maxPendingRemovalBytes: number;
  onOverflow: (overflow: RemovalsOverflow) => void;
}

/**
 * This replica's keys, kept in Redis. Local state is the truth: register and
 * unregister change it at once and send one write each if Redis is connected
 * (never waited for). The refresh cycle re-WRITES the record and every key
 * with a fresh lease, so whatever Redis lost (a restart, a failed write, an
 * unregister sent while disconnected) is repaired within one interval, and
 * at once when the connection comes back.
 *
 * While Redis cannot be written, what is kept for it is bounded: a key
 * registered and unregistered meanwhile was never sent, so it needs no
 * removal; other removals are bounded in bytes (PendingRemovals).
 */
export class LeaseKeeper {
  private readonly keys = new Set<string>();
  /** Registered keys never sent to Redis (registered while disconnected): nothing to remove if they go. */
  private readonly unsent = new Set<string>();
  /** Unregistered keys Redis may still hold, with the change number of their unregister. */
  private readonly removals: PendingRemovals;
  private readonly inflight = new Set<Promise<void>>();
  /** Number of the latest local change. */
  private change = 0;
  /** Latest change whose write failed. */
  private failedAt = -1;
  /** The change up to which a full re-assert has succeeded. */
  private assertedAt = -1;
  private asserting: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connection: RedisConnection,
    private readonly commands: ReplicaCommands,
    private readonly report: (error: TunnelError) => void,
    limits: PendingLimits,
  ) {
    this.removals = new PendingRemovals(limits.maxPendingRemovalBytes, limits.onOverflow);
  }

  /** The keys this replica holds. */
  get registered(): ReadonlySet<string> {
    return this.keys;
  }

  /** Removals waiting for Redis: how many, what they are counted at, how many were dropped over the limit. */
  get pending(): { keys: number; bytes: number; dropped: number } {
    return { keys: this.removals.size, bytes: this.removals.bytes, dropped: this.removals.dropped };
  }

  register(key: string): void {
    if (this.keys.has(key)) {
      return;
    }
    this.keys.add(key);
    const mayBeInRedis = this.removals.delete(key);
    if (!this.connection.ready && !mayBeInRedis) {
      this.unsent.add(key);
    }
    this.write((client) => this.commands.assert(client, [key]));
  }

  unregister(key: string): void {
    if (!this.keys.delete(key) || this.unsent.delete(key)) {
      return; // not held, or Redis never heard of it
    }
    const change = this.write(
      (client) => this.commands.withdraw(client, [key], false),
      () => this.removals.written(key, change),
    );
    this.removals.add(key, change);
  }

  /** Re-asserts everything every `intervalMs`; `onTick` runs on each tick too. */
  startRefreshing(intervalMs: number, onTick: () => void): void {
    this.timer = setInterval(() => {
      onTick();
      if (this.asserting === undefined && this.connection.ready) {
        this.reassert();
      }
    }, intervalMs);
    this.timer.unref(); // the directory alone does not keep a process alive
  }

  stopRefreshing(): void {
    clearInterval(this.timer);
  }

  /** Starts a full re-assert now (in the background), e.g. after a reconnection. */
  reassert(): void {
    const run = this.assertAll().catch(this.report);
    this.asserting = run;
    void run.finally(() => {
      if (this.asserting === run) {
        this.asserting = undefined;
      }
    });
  }

  /** Resolves once Redis reflects every change made so far; rejects with UNAVAILABLE if it cannot now. */
  async flush(): Promise<void> {
    await Promise.all(this.inflight);
    if (this.failedAt > this.assertedAt || this.assertedAt < 0 || this.removals.size > 0) {
      await this.assertAll();
    }
  }

  /** Removes the record and every entry of this replica. */
  async withdrawAll(): Promise<void> {
    const keys = [...this.keys, ...this.removals.keys()];
    const writes = batches(keys).map((batch) => this.connection.run((client) => this.commands.withdraw(client, batch, false)));
    writes.push(this.connection.run((client) => this.commands.withdraw(client, [], true)));
    await Promise.all(writes);
  }

  /** Pending removals first, then the record and all keys, in batches: one pipeline on one connection. */
  private async assertAll(): Promise<void> {
    const change = this.change;
    const removals = this.removals.entries();
    const keys = [...this.keys];
    if (this.connection.ready) {
      this.unsent.clear(); // sent now
    }
    const writes = batches(removals.map(([key]) => key)).map((batch) =>
      this.connection.run((client) => this.commands.withdraw(client, batch, false)),
    );
    for (const batch of keys.length > 0 ? batches(keys) : [[]]) {
      writes.push(this.connection.run((client) => this.commands.assert(client, batch)));
    }
    await Promise.all(writes);
    this.assertedAt = Math.max(this.assertedAt, change);
    for (const [key, removedAt] of removals) {
      this.removals.written(key, removedAt);
    }
    this.removals.settled();
  }

  /** Sends one write for a new change unless disconnected; returns the change number. */
  private write(command: Parameters<RedisConnection["run"]>[0], onWritten?: () => void): number {
    const change = ++this.change;
    if (!this.connection.ready) {
      this.failedAt = change; // the re-assert on reconnection writes it
      return change;
    }
    const written = this.connection.run(command).then(
      () => onWritten?.(),
      (error: TunnelError) => {
        this.failedAt = Math.max(this.failedAt, change);
        this.report(error);
      },
    );
    this.inflight.add(written);
    void written.finally(() => this.inflight.delete(written));
    return change;
  }
}
