import * as grpc from "@grpc/grpc-js";
import { pagedKeys } from "../api/fanout/index.js";
import type { ClusterReplica, ClusterRouting, ReplicaCluster } from "../api/tunnels/index.js";
import type { tunnelServiceDefinition } from "../transport/tunnel-service.js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { AffinityDirectory, AffinityRoute, KeyListPage, ListKeysRequest } from "./directory/index.js";
import { ClusterChannel } from "./cluster-channel.js";
import { ClusterRegistry } from "./cluster-registry.js";
import { PeerTunnels } from "./relay/index.js";
import { relayCalls } from "./relay/index.js";
import { RelayListener } from "./relay/index.js";
import { RouteCache } from "./route-cache.js";
import { Rebalancer, type ResolvedRebalanceOptions } from "./rebalancer.js";

/** How replicas reach each other's relay listeners. */
export interface RelayOptions {
  /**
   * This replica's relay address as the others dial it, `host:port`: the
   * port of the grpc-js server that serves `cluster.relayService()` (not
   * the agents' port), published in the directory.
   */
  address: string;
  /**
   * The secret every replica of the cluster shares (at least 16
   * characters; use a long random value): relay tunnels carry it, and a
   * relay listener refuses tunnels without it. Sent in the tunnel RPC's
   * metadata, so use TLS (`credentials`) where the network between
   * replicas is not trusted.
   */
  secret: string;
  /** Credentials for dialing the other replicas' relay listeners; insecure by default. */
  credentials?: grpc.ChannelCredentials;
  /** More grpc-js channel options for those connections (keepalive is on by default). */
  channelOptions?: grpc.ChannelOptions;
  /** How long opening a relay tunnel to another replica may take before that replica counts as unreachable; default 5,000 ms. */
  connectTimeoutMs?: number;
  /**
   * Relay tunnels this replica keeps to each other replica; default 4. A
   * relayed call is a stream on the least busy. One tunnel is one gRPC
   * stream, whose frames grpc-js writes one after the other, so a single
   * one would queue every call relayed between two replicas behind it.
   */
  tunnelsPerPeer?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_TUNNELS_PER_PEER = 4;
const MIN_SECRET_LENGTH = 16;

/** Relay options with the defaults applied. */
export type ResolvedRelayOptions = Required<Pick<RelayOptions, "address" | "secret" | "connectTimeoutMs" | "tunnelsPerPeer">> &
  Pick<RelayOptions, "credentials" | "channelOptions">;

/** Checks the relay options (TypeError, RangeError) and applies the defaults. */
export function resolveRelayOptions(relay: RelayOptions): ResolvedRelayOptions {
  if (typeof relay?.address !== "string" || relay.address === "") {
    throw new TypeError("cluster: relay.address (host:port of this replica's relay listener) is required");
  }
  if (typeof relay.secret !== "string" || relay.secret.length < MIN_SECRET_LENGTH) {
    throw new TypeError(`cluster: relay.secret must be a string of at least ${MIN_SECRET_LENGTH} characters`);
  }
  const connectTimeoutMs = relay.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (!(Number.isInteger(connectTimeoutMs) && connectTimeoutMs > 0)) {
    throw new RangeError("cluster: relay.connectTimeoutMs must be a positive whole number of milliseconds");
  }
  const tunnelsPerPeer = relay.tunnelsPerPeer ?? DEFAULT_TUNNELS_PER_PEER;
  if (!(Number.isInteger(tunnelsPerPeer) && tunnelsPerPeer >= 1)) {
    throw new RangeError("cluster: relay.tunnelsPerPeer must be a whole number >= 1");
  }
  return { ...relay, connectTimeoutMs, tunnelsPerPeer };
}

/**
 * This replica's membership in a cluster: its entry in the directory, its
 * relay listener and its relay tunnels to the other replicas. Made by
 * `joinCluster`; give it to one `TunnelServiceHandler` as its `cluster`
 * option, serve `relayService()` on a port of its own, and `close()` it
 * after the handler's `drain`.
 */
export class TunnelCluster implements ReplicaCluster {
  /** This replica's id, unique within the cluster. */
  readonly replicaId: string;
  /** This replica's relay address, as published to the others. */
  readonly address: string;
  /** The directory of affinity keys the replicas share. */
  readonly directory: AffinityDirectory;
  private readonly relay: RelayListener;
  private readonly relayOptions: ResolvedRelayOptions;
  private peers: PeerTunnels | undefined;
  private registry: ClusterRegistry | undefined;
  private rebalancer: Rebalancer | undefined;
  private closing: Promise<void> | undefined;

  /**
   * Made by `joinCluster` (a static factory rather than the constructor, so
   * that the published declarations keep the constructor private).
   *
   * @internal
   */
  static create(
    directory: AffinityDirectory,
    relay: ResolvedRelayOptions,
    routeCacheMs: number,
    rebalance?: ResolvedRebalanceOptions,
    onError?: (error: TunnelError) => void,
  ): TunnelCluster {
    return new TunnelCluster(directory, relay, routeCacheMs, rebalance, onError);
  }

  private constructor(
    directory: AffinityDirectory,
    relay: ResolvedRelayOptions,
    private readonly routeCacheMs: number,
    private readonly rebalance: ResolvedRebalanceOptions | undefined = undefined,
    private readonly onError: (error: TunnelError) => void = () => {},
  ) {
    this.directory = directory;
    this.replicaId = directory.replicaId;
    this.address = directory.address;
    this.relayOptions = relay;
    this.relay = new RelayListener(relay.secret);
  }

  /**
   * The relay listener, for `grpc.Server.addService` on a server of its own
   * listening at `relay.address` — never the server the agents connect to:
   *
   * ```ts
   * const relayServer = new grpc.Server(tunnelServerOptions());
   * relayServer.addService(...cluster.relayService());
   * ```
   */
  relayService(): [typeof tunnelServiceDefinition, grpc.UntypedServiceImplementation] {
    return this.relay.service();
  }

  /**
   * One page of the keys held anywhere in the cluster, with the replicas
   * holding each: `{ keys, replicaIds, cursor }`. Go on with `cursor` until
   * it is undefined; a page holds at most `limit` keys (default 100, at
   * most 1,000) and may be short or empty before the last. Like Redis's
   * SCAN: a key held through the whole listing is listed, one that comes or
   * goes meanwhile may or may not be, and rarely one is listed twice.
   * Rejects with UNAVAILABLE when the directory cannot be asked.
   *
   * ```ts
   * let cursor: string | undefined;
   * do {
   *   const page = await cluster.listKeys({ prefix: "camera-", cursor, limit: 500 });
   *   for (const key of page.keys) console.log(key);
   *   cursor = page.cursor;
   * } while (cursor !== undefined);
   * ```
   */
  listKeys(request: ListKeysRequest = {}): Promise<KeyListPage> {
    if (this.directory.listKeys === undefined) {
      return Promise.reject(new TunnelError(Code.UNIMPLEMENTED, "this cluster's directory cannot list keys"));
    }
    return this.directory.listKeys(request);
  }

  /**
   * The replicas that hold a reverse tunnel for `key` now (this one
   * included), with their relay addresses; empty when none does. Rejects
   * with UNAVAILABLE when the directory cannot be asked.
   */
  locate(key: string): Promise<AffinityRoute[]> {
    return this.directory.lookup(key);
  }

  /**
   * Leaves the cluster: withdraws this replica's keys and record from the
   * directory and closes it, closes the relay tunnels to other replicas
   * (calls still relayed on them fail) and ends the relay listener's
   * tunnels. Call it after `handler.drain()`, which lets relayed calls
   * finish first. Calling it again returns the same promise.
   */
  close(): Promise<void> {
    this.closing ??= this.leave();
    return this.closing;
  }

  /** @internal Called by the TunnelServiceHandler given this cluster. */
  attach(replica: ClusterReplica): ClusterRouting {
    if (this.registry !== undefined) {
      throw new Error("this cluster is already in use by a TunnelServiceHandler (one cluster per handler)");
    }
    if (this.closing !== undefined) {
      throw new Error("this cluster is closed");
    }
    const registry = new ClusterRegistry(replica.local, this.directory);
    this.registry = registry;
    const relay = this.relayOptions;
    const peers = new PeerTunnels({
      secret: relay.secret,
      credentials: relay.credentials ?? grpc.credentials.createInsecure(),
      channelOptions: relay.channelOptions ?? {},
      limits: replica.limits,
      connectTimeoutMs: relay.connectTimeoutMs,
      tunnelsPerPeer: relay.tunnelsPerPeer,
    });
    this.peers = peers;
    this.relay.serve({ limits: replica.limits, calls: relayCalls({ replicaId: this.replicaId, localChannel: replica.localChannel }) });
    if (this.rebalance !== undefined) {
      this.rebalancer = new Rebalancer(this.directory, replica, this.rebalance, this.onError);
      this.rebalancer.start();
    }
    const routes = {
      replicaId: this.replicaId,
      directory: this.directory,
      local: replica.local,
      peers,
      cache: new RouteCache(this.routeCacheMs),
      replay: replica.replay,
    };
    return {
      registry,
      keyAsChannel: (key) => {
        if (typeof key !== "string") {
          throw new TypeError(`affinity keys are strings in cluster mode (got ${typeof key})`);
        }
        return new ClusterChannel(key, routes);
      },
      // forEachAgent over the whole cluster: the directory's listing, a page at a time.
      agentKeys: this.directory.listKeys === undefined ? undefined : (filter) => pagedKeys((request) => this.listKeys(request), filter),
      initiateShutdown: () => {
        this.rebalancer?.stop();
        registry.withdrawAll();
        this.relay.initiateShutdown();
      },
      drain: (graceMs) => this.relay.drain(graceMs),
    };
  }

  /** Tunnels this replica shed to rebalance the cluster so far (0 without `rebalance`). */
  get tunnelsShed(): number {
    return this.rebalancer?.shed ?? 0;
  }

  private async leave(): Promise<void> {
    this.rebalancer?.stop();
    this.registry?.withdrawAll();
    this.relay.close();
    this.peers?.close();
    await this.directory.close();
  }
}
