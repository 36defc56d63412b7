import type { TunnelError } from "../errors.js";
import type { AffinityDirectory } from "./directory/index.js";
import type { RedisConnectionOptions } from "./directory/index.js";
import { RedisAffinityDirectory } from "./directory/index.js";
import { resolveRelayOptions, TunnelCluster, type RelayOptions } from "./tunnel-cluster.js";
import { resolveRebalanceOptions, type RebalanceOptions } from "./rebalancer.js";

const DEFAULT_ROUTE_CACHE_MS = 1_000;

/** Options of `joinCluster`: a Redis URL (the usual case) or a directory opened beforehand. */
export interface JoinClusterOptions {
  /** The Redis (or Valkey) the replicas share: `redis://[[user]:password@]host[:port][/db]`, `rediss://…` for TLS. */
  redisUrl?: string;
  /** An affinity directory opened beforehand, instead of `redisUrl`; its address must be `relay.address`. */
  directory?: AffinityDirectory;
  /** This replica's relay listener and how to reach the others'. */
  relay: RelayOptions;
  /** Unique per replica process; default a random UUID (with `redisUrl`). */
  replicaId?: string;
  /** Prefix of every Redis key, so several clusters can share one Redis; default "tunnel" (with `redisUrl`). */
  namespace?: string;
  /**
   * How long a dead replica's keys stay in the directory, in ms; default
   * 10,000 (with `redisUrl`). Calls to them meanwhile skip the dead replica.
   */
  leaseMs?: number;
  /**
   * How long a key found on another replica is routed there without asking
   * the directory again, in ms; default 1,000, 0 asks for every call. A
   * stale route costs one refused call, routed again on a fresh lookup.
   */
  routeCacheMs?: number;
  /**
   * Opt-in rebalancing: this replica sheds reverse tunnels gracefully while
   * it holds more than the cluster mean by a threshold, so that agents move
   * to replicas that hold fewer (a new one after a scale-out); `true` for
   * the defaults. Give it to every replica. See RebalanceOptions.
   */
  rebalance?: boolean | RebalanceOptions;
  /**
   * While Redis is unreachable: the bytes of removals kept for it at most,
   * default 8 MiB (with `redisUrl`; see RedisAffinityDirectoryOptions).
   */
  maxPendingRemovalBytes?: number;
  /** More node-redis options: credentials, TLS, … (with `redisUrl`). */
  redisOptions?: RedisConnectionOptions;
  /** Failures in the background (Redis lost, writes that failed); the directory recovers by itself. */
  onError?: (error: TunnelError) => void;
}

/**
 * Joins this replica to a cluster of reverse-tunnel servers sharing a
 * directory of affinity keys on Redis, and returns the membership to give
 * a `TunnelServiceHandler<string>` as its `cluster` option:
 *
 * ```ts
 * const cluster = await joinCluster({
 *   redisUrl: "redis://redis:6379",
 *   relay: { address: "10.0.0.5:7001", secret: process.env.RELAY_SECRET! },
 * });
 * const handler = new TunnelServiceHandler<string>({ affinityKey, cluster });
 * const relayServer = new grpc.Server(tunnelServerOptions());
 * relayServer.addService(...cluster.relayService());   // bound at relay.address
 * ```
 *
 * Rejects with UNAVAILABLE when Redis cannot be reached now, with a
 * TypeError or RangeError for bad options.
 */
export async function joinCluster(options: JoinClusterOptions): Promise<TunnelCluster> {
  const relay = resolveRelayOptions(options.relay);
  const routeCacheMs = options.routeCacheMs ?? DEFAULT_ROUTE_CACHE_MS;
  if (!(Number.isInteger(routeCacheMs) && routeCacheMs >= 0)) {
    throw new RangeError("joinCluster: routeCacheMs must be a whole number of milliseconds >= 0");
  }
  const rebalance = options.rebalance === undefined || options.rebalance === false ? undefined : resolveRebalanceOptions(options.rebalance);
  const onError = options.onError ?? (() => {});
  if ((options.redisUrl === undefined) === (options.directory === undefined)) {
    throw new TypeError("joinCluster: give exactly one of redisUrl and directory");
  }
  if (options.directory !== undefined) {
    if (options.directory.address !== relay.address) {
      throw new TypeError(`joinCluster: the directory publishes ${options.directory.address}, not relay.address ${relay.address}`);
    }
    if (rebalance !== undefined && options.directory.reportLoad === undefined) {
      throw new TypeError("joinCluster: rebalance needs a directory with reportLoad");
    }
    return TunnelCluster.create(options.directory, relay, routeCacheMs, rebalance, onError);
  }
  const directory = await RedisAffinityDirectory.open({
    url: options.redisUrl!,
    address: relay.address,
    replicaId: options.replicaId,
    namespace: options.namespace,
    leaseMs: options.leaseMs,
    maxPendingRemovalBytes: options.maxPendingRemovalBytes,
    redisOptions: options.redisOptions,
    onError: options.onError,
  });
  return TunnelCluster.create(directory, relay, routeCacheMs, rebalance, onError);
}
