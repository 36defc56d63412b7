import type { TunnelError } from "../../errors.js";
import type { RedisConnection } from "./redis-connection.js";
import { batches, type ReplicaCommands } from "./redis-layout.js";

/**
 * This replica's keys, kept in Redis. Local state is the truth: register and
 * unregister change it at once and send one write each if Redis is connected
 * (never waited for). The refresh cycle re-WRITES the record and every key
 * with a fresh lease, so whatever Redis lost (a restart, a failed write, an
 * unregister sent while disconnected) is repaired within one interval, and
 * at once when the connection comes back.
 */
export class LeaseKeeper {
  private readonly keys = new Set<string>();
  /** Unregistered keys Redis may still hold, with the change number of their unregister. */
  private readonly removals = new Map<string, number>();
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
  ) {}

  /** The keys this replica holds. */
  get registered(): ReadonlySet<string> {
    return this.keys;
  }

  register(key: string): void {
    if (this.keys.has(key)) {
      return;
    }
    this.keys.add(key);
    this.removals.delete(key);
    this.write((client) => this.commands.assert(client, [key]));
  }

  unregister(key: string): void {
    if (!this.keys.delete(key)) {
      return;
    }
    const change = this.write(
      (client) => this.commands.withdraw(client, [key], false),
      () => {
        if (this.removals.get(key) === change) {
          this.removals.delete(key);
        }
      },
    );
    this.removals.set(key, change);
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
    const removals = [...this.removals];
    const keys = [...this.keys];
    const writes = batches(removals.map(([key]) => key)).map((batch) =>
      this.connection.run((client) => this.commands.withdraw(client, batch, false)),
    );
    for (const batch of keys.length > 0 ? batches(keys) : [[]]) {
      writes.push(this.connection.run((client) => this.commands.assert(client, batch)));
    }
    await Promise.all(writes);
    this.assertedAt = Math.max(this.assertedAt, change);
    for (const [key, removedAt] of removals) {
      if (this.removals.get(key) === removedAt) {
        this.removals.delete(key);
      }
    }
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
