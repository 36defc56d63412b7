/**
 * Where to relay a call for an affinity key: a replica that holds a reverse
 * tunnel for it, and the relay address that replica published.
 */
export interface AffinityRoute {
  /** The id of the replica that holds the tunnel. */
  readonly replicaId: string;
  /** The replica's relay address, exactly as it published it (opaque here). */
  readonly address: string;
}

/** Options of `AffinityDirectory.lookup`. */
export interface LookupOptions {
  /** Leave these replicas out of the answer (one id or several), typically the caller's own id. */
  exclude?: string | readonly string[];
}

/** Options of `AffinityDirectory.waitFor`. */
export interface WaitForOptions extends LookupOptions {
  /** Stops waiting: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

import type { ReplicaLoad } from "./replica-load.js";

/** What `listKeys` is asked for. */
export interface ListKeysRequest {
  /** Only keys that start with it. */
  prefix?: string;
  /** Where to go on: the `cursor` of the previous page; absent for the first page. */
  cursor?: string;
  /** At most this many keys in the page, 1 to 1,000; default 100. */
  limit?: number;
}

/** One page of the cluster-wide key listing. */
export interface KeyListPage {
  /** Keys some replica holds now (an unexpired lease), in no particular order. */
  keys: string[];
  /** The replicas holding each key: `replicaIds[i]` for `keys[i]`. */
  replicaIds: string[][];
  /** Where the next page starts; undefined on the last page. A page may be short, even empty, before the last. */
  cursor?: string;
}

/**
 * A directory of affinity keys shared by the replicas of a cluster: which
 * replicas hold a reverse tunnel for a key, and where to relay calls for it.
 *
 * Keys are strings. A replica registers a key when its first tunnel for the
 * key opens and unregisters it when its last one ends; both are synchronous
 * and never wait on the network, so they can sit on any hot path. The
 * directory keeps each replica's keys alive (leases) while the replica lives
 * and re-asserts them after the shared store lost them.
 */
export interface AffinityDirectory {
  /** This replica's id, unique within the cluster. */
  readonly replicaId: string;
  /** This replica's relay address, as published to the others. */
  readonly address: string;

  /** This replica now holds a tunnel for `key`. Idempotent; never throws. */
  register(key: string): void;
  /** This replica no longer holds a tunnel for `key`. Idempotent; never throws. */
  unregister(key: string): void;

  /**
   * The replicas that hold `key`, in no particular order; empty when none
   * does. Rejects with a `TunnelError` UNAVAILABLE, naming the cause, when the
   * directory cannot be asked.
   */
  lookup(key: string, options?: LookupOptions): Promise<AffinityRoute[]>;

  /**
   * Resolves (with at least one route) as soon as any replica not in
   * `options.exclude` holds `key`: at once if one already does. Keeps waiting
   * through outages of the shared store; rejects only when aborted or when
   * the directory closes.
   */
  waitFor(key: string, options?: WaitForOptions): Promise<AffinityRoute[]>;

  /**
   * One page of every key held by any replica (optional: directories that
   * cannot list leave it out). Pages are bounded by `limit`; go on with the
   * returned cursor until it is undefined. Rejects with UNAVAILABLE when
   * the directory cannot be asked, INVALID_ARGUMENT for a cursor it did not make.
   */
  listKeys?(request?: ListKeysRequest): Promise<KeyListPage>;

  /**
   * Publishes how many usable reverse tunnels this replica holds
   * (undefined: withdraws it) and returns the live reports of every replica,
   * this one included (optional: for rebalancing). Reports of a replica
   * that died leave with its lease.
   */
  reportLoad?(tunnels: number | undefined): Promise<ReplicaLoad[]>;

  /**
   * Since when (ms since the epoch) the shared store has been unreachable;
   * undefined while it is reachable (optional: for readiness probes).
   */
  readonly unreachableSince?: number | undefined;

  /**
   * Resolves once every register/unregister made so far is visible to the
   * other replicas; rejects with UNAVAILABLE when that cannot be done now.
   */
  flush(): Promise<void>;

  /**
   * Withdraws this replica's keys and record, stops refreshing and waiting
   * (pending `waitFor` calls reject with UNAVAILABLE), and disconnects.
   */
  close(): Promise<void>;
}

/** The replica ids an `exclude` option names. */
export function excludedIds(exclude: string | readonly string[] | undefined): ReadonlySet<string> {
  // Stryker disable next-line ConditionalExpression: equivalent: new Set(undefined) is empty too
  return new Set(exclude === undefined ? [] : typeof exclude === "string" ? [exclude] : exclude);
}
