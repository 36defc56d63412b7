import { INITIAL_WINDOW_BYTES, MAX_WINDOW_BYTES } from "../protocol/constants.js";

/** HTTP/2's default stream window, which grpc-js servers keep (RFC 9113, 6.9.2). */
export const HTTP2_DEFAULT_WINDOW_BYTES = 65_535;

/** The largest window HTTP/2 allows. */
export const HTTP2_MAX_WINDOW_BYTES = 2 ** 31 - 1;

/** Resource limits of one tunnel; every one is enforced with a clear status. */
export interface TunnelLimits {
  /**
   * The receive window this side advertises for each stream (revision 1), in
   * bytes: how much a peer may send on one stream before the application
   * here reads it. The protocol's reference value is 65,536. Peers (Go's
   * included) send within whatever window is advertised.
   */
  receiveWindowBytes: number;
  /**
   * How far a stream's receive window may grow (revision 1): the window of a
   * stream whose reader keeps up doubles, up to this, by returning extra
   * credit; a slow reader's window never grows. This is the most a peer can
   * make one stream hold unread (a revision-0 stream may hold
   * `maxBufferedBytesPerStream`, 8 MiB, and the memory budgets bound what
   * all streams hold together). Defaults to 4 MiB, or to
   * `receiveWindowBytes` when only that is set (a fixed window). A sender
   * that sees a window grow sends each message of up to half of it whole.
   */
  maxReceiveWindowBytes: number;
  /**
   * Largest chunk this side sends (a send size, not a receive limit); each
   * chunk is also at most what the peer's window allows (revision 1). Every
   * chunk is one gRPC message on the tunnel RPC, and a message in several
   * chunks is copied once more on reassembly, so by default a message goes
   * whole whenever the window allows: 4 MiB - 64 bytes, the most that fits
   * gRPC's default 4 MiB message limit (grpc-go and grpc-js) with the frame
   * around it. Other streams' frames do not wait behind megabytes of one
   * stream's chunks: data waits while 256 KiB are in the transport, and
   * while other streams are open on the tunnel a chunk is at most 256 KiB
   * (whatever this says above that). Go
   * sends 16,384-byte chunks but accepts any chunk within the window
   * (revision 1) or the message (revision 0). Lower it for a peer whose
   * gRPC message limit is lower.
   */
  maxChunkBytes: number;
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
   * The HTTP/2 flow-control window a tunnel server grants each stream of a
   * connection that carries a tunnel RPC (SETTINGS_INITIAL_WINDOW_SIZE; the
   * connection's own window is twice it), set by the connection's first
   * tunnel RPC. A grpc-js server otherwise keeps HTTP/2's 65,535 bytes, and
   * a tunnel is one HTTP/2 stream: a peer could then send it (uploads, an
   * agent's answers) only that much per round trip. A tunnel whose reading
   * is paused may be sent up to this much more; it is charged to the
   * tunnel meanwhile. 65,535 keeps HTTP/2's default. Server side only: a
   * tunnel client's window is grpc-js's `grpc-node.flow_control_window`
   * channel option. Default 1 MiB.
   */
  http2WindowBytes: number;
  /**
   * How long a tunnel client waits for the peer's Settings frame once the
   * peer advertised negotiation; after that the tunnel fails
   * (DEADLINE_EXCEEDED) instead of hanging.
   */
  settingsTimeoutMs: number;
}

/** A chunk plus its frame header must fit in one gRPC message: grpc-js and grpc-go accept 4 MiB by default. */
const MAX_CHUNK_LIMIT = 4 * 1024 * 1024 - 64;

export const DEFAULT_LIMITS: Readonly<TunnelLimits> = {
  receiveWindowBytes: INITIAL_WINDOW_BYTES,
  maxReceiveWindowBytes: 4 * 1024 * 1024,
  maxChunkBytes: MAX_CHUNK_LIMIT,
  maxReceiveMessageBytes: 4 * 1024 * 1024,
  maxBufferedBytesPerStream: 8 * 1024 * 1024,
  maxConcurrentStreams: 10_000,
  maxTunnelMemoryBytes: 128 * 1024 * 1024,
  maxConnectionMemoryBytes: 256 * 1024 * 1024,
  maxTunnelsPerConnection: 256,
  idleStreamTimeoutMs: 300_000,
  maxPendingControlBytes: 1024 * 1024,
  maxMetadataBytes: 64 * 1024,
  http2WindowBytes: 1024 * 1024,
  settingsTimeoutMs: 10_000,
};

export function resolveLimits(partial: Partial<TunnelLimits> | undefined, defaults: Readonly<TunnelLimits> = DEFAULT_LIMITS): TunnelLimits {
  const limits = { ...defaults, ...partial };
  if (!Number.isInteger(limits.receiveWindowBytes) || limits.receiveWindowBytes < 1 || limits.receiveWindowBytes > MAX_WINDOW_BYTES) {
    throw new RangeError(`receiveWindowBytes must be an integer from 1 to ${MAX_WINDOW_BYTES} (got ${limits.receiveWindowBytes})`);
  }
  // Setting only the window fixes it; setting the maximum lets it grow.
  if (partial?.maxReceiveWindowBytes === undefined && partial?.receiveWindowBytes !== undefined) {
    limits.maxReceiveWindowBytes = limits.receiveWindowBytes;
  }
  limits.maxReceiveWindowBytes = Math.max(limits.maxReceiveWindowBytes, limits.receiveWindowBytes);
  checkInteger("maxReceiveWindowBytes", limits.maxReceiveWindowBytes, 1, MAX_WINDOW_BYTES);
  checkInteger("maxChunkBytes", limits.maxChunkBytes, 1, MAX_CHUNK_LIMIT);
  for (const name of ["maxTunnelMemoryBytes", "maxConnectionMemoryBytes", "maxTunnelsPerConnection", "maxPendingControlBytes"] as const) {
    checkInteger(name, limits[name], 1, Number.MAX_SAFE_INTEGER);
  }
  checkInteger("idleStreamTimeoutMs", limits.idleStreamTimeoutMs, 0, Number.MAX_SAFE_INTEGER);
  checkInteger("http2WindowBytes", limits.http2WindowBytes, HTTP2_DEFAULT_WINDOW_BYTES, HTTP2_MAX_WINDOW_BYTES);
  // A revision-0 stream must be able to hold at least one whole message.
  limits.maxBufferedBytesPerStream = Math.max(limits.maxBufferedBytesPerStream, limits.maxReceiveMessageBytes);
  return limits;
}

/** Throws a RangeError naming `name` unless `value` is an integer in [min, max]. */
function checkInteger(name: keyof TunnelLimits, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max} (got ${value})`);
  }
}
