/**
 * Cluster mode: a directory of affinity keys shared by the replicas of a
 * reverse-tunnel server, on Redis. A separate entry point
 * ("@protoc-gen-tunnel/runtime/cluster") so that only users of cluster mode
 * need the `redis` package installed.
 *
 * @module @protoc-gen-tunnel/runtime/cluster
 */
export type { AffinityDirectory, AffinityRoute, LookupOptions, WaitForOptions } from "./cluster/affinity-directory.js";
export { RedisAffinityDirectory, type RedisAffinityDirectoryOptions } from "./cluster/redis-directory.js";
export type { RedisConnectionOptions } from "./cluster/redis-connection.js";
