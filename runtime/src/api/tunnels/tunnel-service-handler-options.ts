import type { TunnelLimits } from "../../engine/limits.js";
import type { ReplicaCluster } from "./replica-cluster.js";
import type { Interceptor } from "../interceptors/index.js";
import type { CallQuotaOptions } from "../quotas/index.js";
import type { ReplayBufferLimits } from "../retry/index.js";
import type { ReverseTunnelRegistry } from "../reverse/index.js";
import type { ReverseTunnelConflictPolicy } from "../reverse/index.js";
import type { TunnelChannel } from "./tunnel-channel.js";
import type { TunnelCaller } from "./tunnel-setup.js";

/** Options of a TunnelServiceHandler; `K` is the type of reverse tunnels' affinity keys. */
export interface TunnelServiceHandlerOptions<K = unknown> {
  /** Refuse reverse tunnels: `OpenReverseTunnel` answers UNIMPLEMENTED. */
  noReverseTunnels?: boolean;
  /**
   * Called once when a reverse tunnel is open and registered, i.e. ready for
   * calls (after negotiation). Exceptions are reported as process warnings.
   */
  onReverseTunnelOpen?: (tunnel: TunnelChannel) => void;
  /**
   * Called once when a registered reverse tunnel has ended, after it left
   * the registry (channels no longer pick it).
   */
  onReverseTunnelClose?: (tunnel: TunnelChannel) => void;
  /**
   * The affinity key of a reverse tunnel, computed once when its RPC
   * arrives, from its `metadata` (including what a server interceptor put
   * there after authenticating the call), `peer` or `authContext` (e.g. the
   * verified client certificate's subject). It runs before the tunnel's
   * protocol revision is negotiated, so it must not start calls on the
   * tunnel. Keys are compared like Map keys: by value for strings and
   * numbers, by identity for objects.
   *
   * Throwing refuses the tunnel before it starts: a thrown TunnelError (e.g.
   * UNAUTHENTICATED) is the status the network client's `serve` reports with
   * `started: false`; anything else is reported as INTERNAL. Without this
   * function every tunnel has the key `undefined`.
   */
  affinityKey?: (tunnel: TunnelChannel) => K;
  /**
   * At most this many usable (not draining) reverse tunnels per affinity
   * key, e.g. 1 per device; what happens to one more is
   * `reverseTunnelConflict`. Unlimited by default.
   */
  maxReverseTunnelsPerKey?: number;
  /**
   * One more reverse tunnel for a key at `maxReverseTunnelsPerKey`:
   *
   * * `"replace-oldest"` lets the newcomer in and retires the key's oldest
   *   tunnel: it is not picked for new calls from that moment, its running
   *   calls get `replacedTunnelGraceMs` to finish (then they fail with
   *   UNAVAILABLE), and it ends with ABORTED "replaced by a newer reverse
   *   tunnel for the same affinity key". An agent that reconnects while its
   *   old connection is still half-open is served at once.
   * * `"refuse-new"` refuses the newcomer with RESOURCE_EXHAUSTED (its
   *   `serve` reports `started: false`).
   *
   * Default: `"replace-oldest"` when the limit is 1, `"refuse-new"` otherwise.
   */
  reverseTunnelConflict?: ReverseTunnelConflictPolicy;
  /** How long a replaced reverse tunnel's running calls may take to finish, in ms (default 5 000). */
  replacedTunnelGraceMs?: number;
  /**
   * Transparent retry on reverse channels (`keyAsChannel`, `asChannel`): a
   * call refused before any handler saw it (the agent is stopping, the
   * tunnel ended or started draining, too many streams) is started once
   * more on another tunnel of the same key, replaying the requests sent so
   * far. Requests are kept for that up to `perCallBytes` per call (default
   * 64 KiB; a call that sends more is not retried) and `totalBytes` over all
   * calls (default 16 MiB). `false` turns it off. A call a handler may have
   * seen is never retried.
   */
  retryRefusedCalls?: boolean | Partial<ReplayBufferLimits>;
  /** Offer revision 0 only (no flow control), like Go's `DisableFlowControl`. */
  disableFlowControl?: boolean;
  /**
   * Who the per-connection limits (`maxTunnelsPerConnection`,
   * `maxConnectionMemoryBytes`) are kept for. By default a network
   * connection (the tunnel RPC's peer address), which is safe when clients
   * connect directly. Behind a proxy that puts many clients on one
   * connection (Envoy, cloud gRPC load balancers) every client shares that
   * budget, so one can lock out all: key it by the client instead, e.g. its
   * authenticated identity or a header the trusted proxy sets
   * (`forwardedForKey` from the /protocol entry). Return undefined to fall back to the connection.
   * Only use what a client cannot forge.
   */
  budgetKey?: (caller: TunnelCaller) => string | undefined;
  /** Per-tunnel limits (windows, message and metadata sizes, ...); unset ones keep their defaults. */
  limits?: Partial<TunnelLimits>;
  /** Where reverse tunnels are kept; an in-process registry by default. */
  registry?: ReverseTunnelRegistry<K>;
  /**
   * Cluster mode: this handler is one replica of several, made with
   * `joinCluster` from "@protoc-gen-tunnel/runtime/cluster". Each affinity
   * key held here is published in the cluster's directory, and
   * `keyAsChannel(key)` reaches the key's agent on any replica: through a
   * local tunnel when there is one, else relayed to the replica that holds
   * it. Keys are strings in cluster mode. `asChannel()` stays local: it
   * spreads calls over this replica's tunnels only.
   */
  cluster?: [K] extends [string] ? ReplicaCluster : never;
  /**
   * Rate limits on the calls this handler starts on reverse tunnels, per
   * affinity key and per caller: token buckets of calls (and optionally
   * bytes) per second. A call over a limit fails at once with
   * RESOURCE_EXHAUSTED and a `google.rpc.RetryInfo` saying when to retry,
   * and is published on `grpctunnel:call:throttled`. Counted on
   * `keyAsChannel(key)` calls and, in cluster mode, on calls other replicas
   * relay here too — so a key held here is limited whichever replica the
   * calls come from. `asChannel()` calls are not counted.
   */
  quotas?: CallQuotaOptions;
  /**
   * Wrap every typed implementation registered on this handler (e.g. to
   * check an auth token, log, trace); the first is outermost. Their
   * requests carry the handler's `context`.
   */
  interceptors?: Interceptor[];
}

/** Options of `TunnelServiceHandler.drain`. */
export interface DrainOptions {
  /**
   * How long running calls may take, in ms (default 10 000); then every
   * tunnel still open is ended with UNAVAILABLE, cancelling its calls.
   */
  graceMs?: number;
}
