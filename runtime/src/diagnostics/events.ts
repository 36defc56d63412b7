import type { Metadata } from "@grpc/grpc-js";
import type { Code } from "../code.js";
import type { TunnelError } from "../errors.js";

/**
 * Which end of the tunnel protocol this side is: the tunnel `client` starts
 * calls, the tunnel `server` serves them. A forward tunnel's network client
 * and a reverse tunnel's network server are tunnel clients.
 */
export type TunnelRole = "client" | "server";

/**
 * One tunnel, as diagnostics and the status page see it: what it is, and
 * live figures (read them when needed: they are computed on access).
 */
export interface TunnelInfo {
  /** Unique within this process, increasing. */
  readonly id: number;
  /** This side's end of the tunnel protocol. */
  readonly role: TunnelRole;
  /** "forward": the network client dialed to make calls; "reverse": it dialed to serve them. */
  readonly direction: "forward" | "reverse";
  /** The network peer at the other end of the tunnel RPC, as grpc-js reports it. */
  readonly peer: string;
  /** The request metadata of the tunnel RPC (the tunnel metadata). */
  readonly metadata: Metadata;
  /** A reverse tunnel's affinity key on the network server; undefined elsewhere. */
  readonly affinityKey: unknown;
  /** When the tunnel RPC was accepted or opened. */
  readonly openedAt: Date;
  /**
   * The protocol revision in use: the negotiated one on the tunnel client;
   * on the tunnel server, that of the latest call (undefined before the first).
   */
  readonly protocolRevision: 0 | 1 | undefined;
  /** Calls running on the tunnel now. */
  readonly activeCalls: number;
  /** Message bytes this side sent on the tunnel's streams (serialized messages, no framing). */
  readonly bytesSent: number;
  /** Message bytes this side received on the tunnel's streams. */
  readonly bytesReceived: number;
  /** True once the tunnel has ended. */
  readonly closed: boolean;
}

/** One tunneled call, the same object in its start and end events. */
export interface CallInfo {
  /** The tunnel that carries the call. */
  readonly tunnel: TunnelInfo;
  /** The stream's ID within its tunnel. */
  readonly streamId: bigint;
  /** The full method name, "/pkg.Service/Method". */
  readonly method: string;
  /** "client": this side made the call; "server": this side serves it. */
  readonly role: TunnelRole;
}

/** Published on `grpctunnel:tunnel:open` when a tunnel can carry calls. */
export interface TunnelOpenEvent {
  /** The tunnel, the same object in its close event. */
  readonly tunnel: TunnelInfo;
}

/**
 * How a tunnel ended: `closed` (this side closed it), `peer-closed` (the
 * peer ended the tunnel RPC cleanly) or `failed` (with `error`).
 */
export type TunnelEndReason = "closed" | "peer-closed" | "failed";

/** Published on `grpctunnel:tunnel:close`, after the end events of its calls. */
export interface TunnelCloseEvent {
  /** The tunnel, the same object as in its open event. */
  readonly tunnel: TunnelInfo;
  /** Who ended it, or that it failed. */
  readonly reason: TunnelEndReason;
  /** Why it failed; undefined for a clean end. */
  readonly error: TunnelError | undefined;
  /** How long the tunnel was open, in milliseconds. */
  readonly durationMs: number;
}

/** Published on `grpctunnel:call:start` when a call's stream starts (client) or is accepted (server). */
export interface CallStartEvent {
  /** The call, the same object in its end event. */
  readonly call: CallInfo;
}

/** Published on `grpctunnel:call:end` when a call's stream has ended. */
export interface CallEndEvent {
  /** The call, the same object as in its start event (made now if nobody listened then). */
  readonly call: CallInfo;
  /** The call's status code (0, OK, for success). */
  readonly code: Code;
  /** The call's error; undefined for OK. */
  readonly error: TunnelError | undefined;
  /** Message bytes this side sent on the call (requests on the client, responses on the server). */
  readonly bytesSent: number;
  /** Message bytes this side received on the call. */
  readonly bytesReceived: number;
  /** From the stream's start to its end, in milliseconds. */
  readonly durationMs: number;
}

/** Which limit of the `quotas` option refused a call: its affinity key's or its caller's. */
export type QuotaScope = "key" | "caller";

/** Published on `grpctunnel:call:throttled` when a quota refused a call (RESOURCE_EXHAUSTED, before it started). */
export interface CallThrottledEvent {
  /** The affinity key the call was for. */
  readonly key: unknown;
  /** The caller, as the quotas' `callerOf` named it; undefined without one. */
  readonly caller: string | undefined;
  /** The full method name, "/pkg.Service/Method". */
  readonly method: string;
  /** Whose limit refused it. */
  readonly scope: QuotaScope;
  /** Which of its budgets was spent: calls per second, or message bytes per second. */
  readonly unit: "calls" | "bytes";
  /** When the call would be admitted, in ms (the RetryInfo's delay). */
  readonly retryAfterMs: number;
}

/**
 * Published on `grpctunnel:call:routed` in cluster mode when a call (or a
 * new attempt of it, after a refusal) starts on a replica's tunnel: which
 * replica serves it, here or relayed.
 */
export interface CallRoutedEvent {
  /** The affinity key the call is for. */
  readonly key: string;
  /** The full method name, "/pkg.Service/Method". */
  readonly method: string;
  /** The replica whose tunnel serves the call (what `tunnel-served-by` will say). */
  readonly servedBy: string;
  /** The replica that routed it: this one. */
  readonly replicaId: string;
  /** True when it is relayed to another replica. */
  readonly relayed: boolean;
}

/**
 * Published on `grpctunnel:cluster:tunnels-shed` when rebalancing (the
 * cluster's `rebalance` option) shed reverse tunnels of this replica: one
 * event per round, at most `maxShedPerInterval` tunnels each.
 */
export interface TunnelsShedEvent {
  /** The replica that shed them. */
  readonly replicaId: string;
  /** Usable reverse tunnels it held before. */
  readonly held: number;
  /** The cluster's mean, from every replica's report. */
  readonly meanTunnels: number;
  /** Tunnels shed in this round (each ends once its calls finished; its agent reconnects). */
  readonly shed: number;
}

/**
 * Published on `grpctunnel:directory:removals-dropped` when a replica's
 * affinity directory, unable to write to Redis, kept more pending removals
 * than its `maxPendingRemovalBytes` and forgot the oldest: their entries
 * stay in Redis until their leases end (within `leaseMs`), and calls routed
 * there meanwhile are refused by this replica and routed again.
 */
export interface DirectoryRemovalsDroppedEvent {
  /** The replica whose directory dropped them. */
  readonly replicaId: string;
  /** Removals dropped now. */
  readonly dropped: number;
  /** Removals dropped since the directory opened. */
  readonly droppedTotal: number;
  /** Removals still pending. */
  readonly pendingKeys: number;
  /** The bytes the pending removals are counted at (two a character of their keys, plus 64 each). */
  readonly pendingBytes: number;
}
