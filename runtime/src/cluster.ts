/**
 * Cluster mode: several replicas of a reverse-tunnel server share a
 * directory of affinity keys on Redis and relay calls to each other, so that
 * `keyAsChannel(key)` reaches an agent on any replica. A separate entry
 * point ("@protoc-gen-tunnel/runtime/cluster") so that only users of cluster
 * mode need the `redis` package installed.
 *
 * @module @protoc-gen-tunnel/runtime/cluster
 */
export { joinCluster, type JoinClusterOptions } from "./cluster/join-cluster.js";
export { TunnelCluster, type RelayOptions } from "./cluster/tunnel-cluster.js";
export { RELAY_KEY_HEADER, RELAY_SECRET_HEADER, SERVED_BY_HEADER } from "./cluster/relay/index.js";
export type { AffinityDirectory, AffinityRoute, LookupOptions, WaitForOptions } from "./cluster/directory/index.js";
export type { KeyListPage, ListKeysRequest } from "./cluster/directory/index.js";
export { RedisAffinityDirectory, type RedisAffinityDirectoryOptions } from "./cluster/directory/index.js";
export type { RedisConnectionOptions } from "./cluster/directory/index.js";
export type { RebalanceOptions } from "./cluster/rebalancer.js";
export type { ReplicaLoad } from "./cluster/directory/index.js";
