import type { TunnelLimits } from "../../engine/limits.js";
import type { KeyFilter } from "../fanout/index.js";
import type { ReplayBudget } from "../retry/index.js";
import type { ReverseChannel } from "../reverse/index.js";
import type { ReverseTunnelRegistry } from "../reverse/index.js";
import type { TunnelChannel } from "./tunnel-channel.js";

/**
 * Cluster mode of a TunnelServiceHandler: the replicas of a server share
 * their reverse tunnels, so that `keyAsChannel(key)` reaches an agent
 * connected to any replica. Made by `joinCluster` from
 * "@protoc-gen-tunnel/runtime/cluster" and given to one handler as its
 * `cluster` option. (An interface here so that a handler without cluster
 * mode never loads the cluster's dependencies.)
 */
export interface ReplicaCluster {
  /** This replica's id, unique within the cluster. */
  readonly replicaId: string;
  /**
   * Binds the cluster to the handler it was given to; the handler calls it
   * once, from its constructor.
   *
   * @internal
   */
  attach(replica: ClusterReplica): ClusterRouting;
}

/**
 * What a handler hands its cluster.
 *
 * @internal
 */
export interface ClusterReplica {
  /** The handler's own registry: the reverse tunnels on this replica. */
  readonly local: ReverseTunnelRegistry<string>;
  /** A round-robin channel over this replica's tunnels for `key`, retrying refused calls as `keyAsChannel` does. */
  localChannel(key: string): ReverseChannel;
  /** Where refused calls keep their requests for a replay; undefined: no retries. */
  readonly replay: ReplayBudget | undefined;
  /** The handler's tunnel limits, for the relay's tunnels too. */
  readonly limits: TunnelLimits;
  /**
   * Moves one of this replica's reverse tunnels away gracefully (running
   * calls get `graceMs`, then it ends cleanly and its agent reconnects);
   * false if it is not a usable registered tunnel here.
   */
  shed(tunnel: TunnelChannel, graceMs: number): boolean;
}

/**
 * What the cluster gives the handler back.
 *
 * @internal
 */
export interface ClusterRouting {
  /** The registry the handler keeps its reverse tunnels in: `local`, each key published to the cluster while held. */
  readonly registry: ReverseTunnelRegistry<string>;
  /** `keyAsChannel(key)` in cluster mode: a local tunnel when there is one, else a relay to the replica holding the key. */
  keyAsChannel(key: string): ReverseChannel;
  /**
   * The keys held anywhere in the cluster, streamed page by page (e.g.
   * `pagedKeys` over the directory's listing); without it the handler lists
   * its own reverse tunnels' keys.
   */
  agentKeys?(filter: KeyFilter): AsyncIterable<string>;
  /** The handler stops taking new work: withdraw every key, refuse new relayed calls. */
  initiateShutdown(): void;
  /** Ends the relay's tunnels once their calls have finished, or after `graceMs`. */
  drain(graceMs: number): Promise<void>;
}
