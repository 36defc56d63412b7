import type * as grpc from "@grpc/grpc-js";

/*
 * Dead-peer detection. A tunnel is one long-lived RPC: if its connection
 * dies silently (a NAT mapping expires, a host vanishes, a middlebox drops
 * packets without a reset), neither side sees an error until TCP gives up,
 * which takes minutes or forever. HTTP/2 keepalive pings find out within
 * `time + timeout`: a ping is sent every `time` ms, and a connection whose
 * ping is not answered within `timeout` ms is closed, failing its tunnels.
 */

/** Ping interval of both sides by default, in ms. */
const KEEPALIVE_TIME_MS = 20_000;
/** How long an unanswered ping may take before the connection is closed, in ms. */
const KEEPALIVE_TIMEOUT_MS = 10_000;

/**
 * The grpc-js channel options `TunnelServiceClient` uses by default: a dead
 * connection is noticed within 30 s (20 s + 10 s). Pings are sent only
 * while a call (e.g. a tunnel) is open. The network server must permit
 * pings this often: grpc-js servers do; a Go server needs a
 * `keepalive.EnforcementPolicy` with `MinTime` at most 20 s, or it closes
 * the connection ("too_many_pings").
 */
export const TUNNEL_CLIENT_KEEPALIVE: Readonly<grpc.ChannelOptions> = Object.freeze({
  "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS,
  "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS,
});

/**
 * Options for the `grpc.Server` that hosts a TunnelServiceHandler, with
 * `overrides` on top: the server pings every connection too, so that it
 * drops the reverse tunnels of agents whose connection died within 30 s
 * (20 s + 10 s) and stops routing calls to them. grpc-js servers accept the
 * clients' pings (`TUNNEL_CLIENT_KEEPALIVE`) without further settings.
 *
 * ```ts
 * const server = new grpc.Server(tunnelServerOptions());
 * ```
 */
export function tunnelServerOptions(overrides: grpc.ServerOptions = {}): grpc.ServerOptions {
  return { "grpc.keepalive_time_ms": KEEPALIVE_TIME_MS, "grpc.keepalive_timeout_ms": KEEPALIVE_TIMEOUT_MS, ...overrides };
}
