import { randomUUID } from "node:crypto";
import { Code } from "../../code.js";
import { directoryRemovalsDroppedChannel } from "../../diagnostics/channels.js";
import { TunnelError } from "../../errors.js";
import { excludedIds, type AffinityDirectory, type AffinityRoute, type LookupOptions, type WaitForOptions } from "./affinity-directory.js";
import type { KeyListPage, ListKeysRequest } from "./affinity-directory.js";
import { LeaseKeeper } from "./lease-keeper.js";
import type { RemovalsOverflow } from "./pending-removals.js";
import { RedisConnection, type RedisConnectionOptions } from "./redis-connection.js";
import { DirectoryLayout, ReplicaCommands } from "./redis-layout.js";
import { listingQuery, listPage } from "./redis-listing.js";
import { reportLoad, type ReplicaLoad } from "./replica-load.js";
import { RegistrationWaiters } from "./registration-waiters.js";

/** Options of a RedisAffinityDirectory. */
export interface RedisAffinityDirectoryOptions {
  /** `redis://[[user]:password@]host[:port][/db]` or `rediss://…` for TLS. */
  url: string;
  /** This replica's relay address, published as is for the other replicas. */
  address: string;
  /** Unique per replica process; default a random UUID. */
  replicaId?: string;
  /** Prefix of every Redis key and channel, so several clusters can share one Redis; default "tunnel". */
  namespace?: string;
  /** How long entries outlive a replica that died without closing; default 10,000 ms. */
  leaseMs?: number;
  /** How often leases are re-written; default a third of `leaseMs`. */
  refreshMs?: number;
  /** How long a command may wait for Redis before failing UNAVAILABLE; default 1,000 ms. */
  commandTimeoutMs?: number;
  /**
   * While Redis cannot be written, the keys this replica unregistered that
   * Redis may still hold wait to be removed; they are counted at two bytes
   * a character plus 64 and kept up to this many bytes, default 8 MiB
   * (keys registered and unregistered during the outage never count: Redis
   * never saw them). Beyond it the oldest are dropped: their entries end
   * with their leases (within `leaseMs`), a
   * `grpctunnel:directory:removals-dropped` diagnostics event counts them
   * and a process warning says so once per outage.
   */
  maxPendingRemovalBytes?: number;
  /**
   * More node-redis client options (TLS, credentials, …). The directory sets
   * its own offline queueing (none), queue length and reconnection.
   */
  redisOptions?: RedisConnectionOptions;
  /** Failures in the background (lost connection, failed writes); the directory recovers by itself. */
  onError?: (error: TunnelError) => void;
}

const DEFAULT_LEASE_MS = 10_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 1_000;
const DEFAULT_MAX_PENDING_REMOVAL_BYTES = 8 * 1024 * 1024;

/**
 * The affinity directory on one Redis (or Valkey) primary, for the replicas
 * of a cluster. Each replica opens one: two connections (commands, and a
 * subscriber for waitFor), a replica record with its relay address, and a
 * lease on every key it registers. See redis-layout.ts for the data model.
 *
 * When Redis is unreachable, lookups and flush() fail at once (or after
 * `commandTimeoutMs` if Redis hangs) with UNAVAILABLE naming the cause;
 * register/unregister keep working locally, and once Redis is back (even
 * empty, after a restart) the replica re-asserts its record and every key by
 * itself. What it keeps for Redis meanwhile is bounded (see
 * `maxPendingRemovalBytes`).
 */
export class RedisAffinityDirectory implements AffinityDirectory {
  readonly replicaId: string;
  readonly address: string;
  /** The prefix of this directory's Redis keys and channels. */
  readonly namespace: string;
  /** How long entries outlive a replica that died without closing, in ms. */
  readonly leaseMs: number;
  /** How often this replica re-writes its leases, in ms. */
  readonly refreshMs: number;

  private readonly commands: RedisConnection;
  private readonly subscriber: RedisConnection;
  private readonly replica: ReplicaCommands;
  private readonly leases: LeaseKeeper;
  private readonly waiters: RegistrationWaiters;
  private readonly report: (error: TunnelError) => void;
  private readonly layout: DirectoryLayout;
  private lostAt: number | undefined;
  private started = false;
  private closing: Promise<void> | undefined;

  /**
   * Connects, publishes this replica's record and starts refreshing. Rejects
   * with UNAVAILABLE if Redis cannot be reached now, with a TypeError or
   * RangeError for bad options.
   */
  static async open(options: RedisAffinityDirectoryOptions): Promise<RedisAffinityDirectory> {
    const directory = new RedisAffinityDirectory(options);
    try {
      await directory.start();
    } catch (error) {
      directory.disconnect();
      throw error;
    }
    return directory;
  }

  private constructor(options: RedisAffinityDirectoryOptions) {
    this.address = requireText(options.address, "address");
    this.replicaId = requireText(options.replicaId ?? randomUUID(), "replicaId");
    this.namespace = requireText(options.namespace ?? "tunnel", "namespace");
    this.leaseMs = requireDuration(options.leaseMs ?? DEFAULT_LEASE_MS, "leaseMs");
    this.refreshMs = requireDuration(options.refreshMs ?? Math.max(1, Math.floor(this.leaseMs / 3)), "refreshMs");
    if (this.refreshMs >= this.leaseMs) {
      throw new RangeError("cluster directory: refreshMs must be shorter than leaseMs");
    }
    const commandTimeoutMs = requireDuration(options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS, "commandTimeoutMs");
    const report = (this.report = options.onError ?? (() => {}));
    const layout = (this.layout = new DirectoryLayout(this.namespace));
    const connection = { url: options.url, options: options.redisOptions ?? {}, commandTimeoutMs, onLost: report };
    this.commands = new RedisConnection({
      ...connection,
      onReady: () => this.onCommandsReady(),
      onLost: (error) => {
        this.lostAt ??= Date.now();
        report(error);
      },
    });
    this.subscriber = new RedisConnection({ ...connection, onReady: () => this.waiters.onSubscriberReady() });
    this.replica = new ReplicaCommands(layout, this.replicaId, this.address, this.leaseMs);
    const maxPendingRemovalBytes = options.maxPendingRemovalBytes ?? DEFAULT_MAX_PENDING_REMOVAL_BYTES;
    if (!(Number.isInteger(maxPendingRemovalBytes) && maxPendingRemovalBytes >= 0)) {
      throw new RangeError("cluster directory: maxPendingRemovalBytes must be a whole number of bytes >= 0");
    }
    this.leases = new LeaseKeeper(this.commands, this.replica, report, {
      maxPendingRemovalBytes,
      onOverflow: (overflow) => this.removalsDropped(overflow, maxPendingRemovalBytes),
    });
    this.waiters = new RegistrationWaiters({
      subscriber: this.subscriber,
      channel: (key) => layout.channel(key),
      lookup: (key) => this.lookup(key),
    });
  }

  register(key: string): void {
    if (this.closing === undefined) {
      this.leases.register(requireKey(key));
    }
  }

  unregister(key: string): void {
    if (this.closing === undefined) {
      this.leases.unregister(requireKey(key));
    }
  }

  /** The keys this replica has registered. */
  get registeredKeys(): ReadonlySet<string> {
    return this.leases.registered;
  }

  /**
   * Removals waiting for Redis (keys unregistered while it could not be
   * written), the bytes they are counted at, and how many were dropped over
   * `maxPendingRemovalBytes` since the directory opened.
   */
  get pendingRemovals(): {
    /** Removals waiting. */
    keys: number;
    /** The bytes they are counted at. */
    bytes: number;
    /** Removals dropped over the limit since the directory opened. */
    dropped: number;
  } {
    return this.leases.pending;
  }

  async lookup(key: string, options: LookupOptions = {}): Promise<AffinityRoute[]> {
    requireKey(key);
    if (this.closing !== undefined) {
      throw closedError();
    }
    const routes = await this.commands.run((client) => this.replica.lookup(client, key));
    const excluded = excludedIds(options.exclude);
    return routes.filter((route) => !excluded.has(route.replicaId));
  }

  /**
   * One page of every key any replica of the cluster holds, with the
   * replicas holding it (see AffinityDirectory.listKeys): one script call,
   * bounded work in Redis per page.
   */
  async listKeys(request: ListKeysRequest = {}): Promise<KeyListPage> {
    if (this.closing !== undefined) {
      throw closedError();
    }
    const query = listingQuery(this.layout.keyPrefix, request);
    return this.commands.run((client) => listPage(client, query));
  }

  /** Publishes this replica's reverse tunnel count and returns every live replica's (see AffinityDirectory.reportLoad). */
  async reportLoad(tunnels: number | undefined): Promise<ReplicaLoad[]> {
    if (this.closing !== undefined) {
      throw closedError();
    }
    return this.commands.run((client) => reportLoad(client, this.layout.load, this.replicaId, tunnels, this.leaseMs));
  }

  /** Since when Redis has been unreachable (ms since the epoch); undefined while connected. */
  get unreachableSince(): number | undefined {
    return this.commands.ready ? undefined : (this.lostAt ?? Date.now());
  }

  async waitFor(key: string, options?: WaitForOptions): Promise<AffinityRoute[]> {
    return this.waiters.wait(requireKey(key), options);
  }

  flush(): Promise<void> {
    if (this.closing !== undefined) {
      return Promise.reject(closedError());
    }
    return this.leases.flush();
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async start(): Promise<void> {
    await Promise.all([this.commands.connect(), this.subscriber.connect()]);
    await this.leases.flush();
    this.leases.startRefreshing(this.refreshMs, () => this.waiters.retryFailedChecks());
    this.started = true;
  }

  private onCommandsReady(): void {
    this.lostAt = undefined;
    if (this.started && this.closing === undefined) {
      this.leases.reassert(); // Redis may have restarted empty
      this.waiters.retryFailedChecks();
    }
  }

  private async shutdown(): Promise<void> {
    this.leases.stopRefreshing();
    this.waiters.close(closedError());
    try {
      if (this.started) {
        await this.leases.withdrawAll();
      }
    } catch (error) {
      this.report(error as TunnelError); // the leases expire by themselves
    } finally {
      this.disconnect();
    }
  }

  private removalsDropped({ dropped, firstOfEpisode }: RemovalsOverflow, limit: number): void {
    const pending = this.leases.pending;
    if (firstOfEpisode) {
      process.emitWarning(
        `grpctunnel: cluster directory ${this.replicaId}: Redis cannot be written and the removals waiting for it ` +
          `reached maxPendingRemovalBytes (${limit}); dropping the oldest, whose entries end with their leases ` +
          "(not logged again until Redis has them all)",
      );
    }
    // Stryker disable next-line ConditionalExpression: publishing to a channel without subscribers does nothing
    if (directoryRemovalsDroppedChannel.hasSubscribers) {
      directoryRemovalsDroppedChannel.publish({
        replicaId: this.replicaId,
        dropped,
        droppedTotal: pending.dropped,
        pendingKeys: pending.keys,
        pendingBytes: pending.bytes,
      });
    }
  }

  private disconnect(): void {
    this.commands.destroy();
    this.subscriber.destroy();
  }
}

function closedError(): TunnelError {
  return new TunnelError(Code.UNAVAILABLE, "cluster directory closed");
}

function requireKey(key: string): string {
  if (typeof key !== "string") {
    throw new TypeError(`cluster directory: affinity keys are strings, got ${typeof key}`);
  }
  return key;
}

function requireText(value: string, name: string): string {
  if (typeof value !== "string" || value === "") {
    throw new TypeError(`cluster directory: ${name} must be a non-empty string`);
  }
  return value;
}

function requireDuration(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new RangeError(`cluster directory: ${name} must be a positive whole number of milliseconds`);
  }
  return value;
}
