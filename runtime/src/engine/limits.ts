import { INITIAL_WINDOW_BYTES, MAX_WINDOW_BYTES } from "../protocol/constants.js";

/** Resource limits of one tunnel; every one is enforced with a clear status. */
export interface TunnelLimits {
  /**
   * The receive window this side advertises for each stream (revision 1), in
   * bytes: how much a peer may send on one stream before the application
   * here reads it. The protocol's reference value is 65,536; a larger window
   * lets a single stream go faster at the cost of that much buffering per
   * stream. Peers (Go's included) send within whatever window is advertised.
   */
  receiveWindowBytes: number;
  /** Largest message accepted from the peer, in bytes (gRPC's default: 4 MiB). */
  maxReceiveMessageBytes: number;
  /**
   * Most bytes queued for one stream that the application has not read yet,
   * for revision-0 streams (revision 1 is bounded by its window instead).
   */
  maxBufferedBytesPerStream: number;
  /** Most calls a tunnel server runs at once on one tunnel; more get RESOURCE_EXHAUSTED. */
  maxConcurrentStreams: number;
  // Memory budgets (engine/memory-budget.ts): what is held is charged to the
  // tunnel, its connection and the process (`setProcessMemoryLimit`); a
  // stream or tunnel that would go over a budget fails with RESOURCE_EXHAUSTED.
  /**
   * Most memory one tunnel may hold: buffered messages, decoded metadata,
   * frames waiting to be sent, the streams themselves.
   */
  maxTunnelMemoryBytes: number;
  /**
   * Most memory the tunnels of one network connection may hold together
   * (the tunnel RPC's peer address identifies the connection; grpc-js
   * clients in one process share a connection to the same address).
   */
  maxConnectionMemoryBytes: number;
  /** Most tunnels (forward and reverse) a TunnelServiceHandler accepts on one network connection. */
  maxTunnelsPerConnection: number;
  /**
   * A tunneled call on which the client has sent nothing (no message, no
   * half-close) and the handler has sent no response headers this long
   * after it started is ended with DEADLINE_EXCEEDED. 0 turns it off.
   */
  idleStreamTimeoutMs: number;
  /**
   * Back-pressure: while more than this many bytes of control frames (headers,
   * closes, refusals, window updates) wait to be sent because the peer is
   * not reading, the tunnel server stops reading the tunnel.
   */
  maxPendingControlBytes: number;
  /**
   * Largest metadata accepted from the peer (request headers, response
   * headers, trailers), counted like HTTP/2's header list size: key and
   * value bytes plus 32 per entry.
   */
  maxMetadataBytes: number;
  /**
   * How long a tunnel client waits for the peer's Settings frame once the
   * peer advertised negotiation; after that the tunnel fails
   * (DEADLINE_EXCEEDED) instead of hanging.
   */
  settingsTimeoutMs: number;
}

export const DEFAULT_LIMITS: Readonly<TunnelLimits> = {
  receiveWindowBytes: INITIAL_WINDOW_BYTES,
  maxReceiveMessageBytes: 4 * 1024 * 1024,
  maxBufferedBytesPerStream: 8 * 1024 * 1024,
  maxConcurrentStreams: 10_000,
  maxTunnelMemoryBytes: 128 * 1024 * 1024,
  maxConnectionMemoryBytes: 256 * 1024 * 1024,
  maxTunnelsPerConnection: 256,
  idleStreamTimeoutMs: 300_000,
  maxPendingControlBytes: 1024 * 1024,
  maxMetadataBytes: 64 * 1024,
  settingsTimeoutMs: 10_000,
};

export function resolveLimits(partial: Partial<TunnelLimits> | undefined): TunnelLimits {
  const limits = { ...DEFAULT_LIMITS, ...partial };
  if (!Number.isInteger(limits.receiveWindowBytes) || limits.receiveWindowBytes < 1 || limits.receiveWindowBytes > MAX_WINDOW_BYTES) {
    throw new RangeError(`receiveWindowBytes must be an integer from 1 to ${MAX_WINDOW_BYTES} (got ${limits.receiveWindowBytes})`);
  }
  for (const name of ["maxTunnelMemoryBytes", "maxConnectionMemoryBytes", "maxTunnelsPerConnection", "maxPendingControlBytes"] as const) {
    if (!Number.isSafeInteger(limits[name]) || limits[name] < 1) {
      throw new RangeError(`${name} must be a positive integer (got ${limits[name]})`);
    }
  }
  if (!Number.isSafeInteger(limits.idleStreamTimeoutMs) || limits.idleStreamTimeoutMs < 0) {
    throw new RangeError(`idleStreamTimeoutMs must be an integer >= 0 (got ${limits.idleStreamTimeoutMs})`);
  }
  // A revision-0 stream must be able to hold at least one whole message.
  limits.maxBufferedBytesPerStream = Math.max(limits.maxBufferedBytesPerStream, limits.maxReceiveMessageBytes);
  return limits;
}
