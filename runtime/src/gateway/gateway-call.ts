import type { Metadata } from "@grpc/grpc-js";
import type { AuthContext } from "../engine/auth-context.js";

/** How a caller reached the gateway: gRPC over HTTP/2, gRPC-Web, or the Connect protocol. */
export type GatewayProtocol = "grpc" | "grpc-web" | "connect";

/**
 * One call as the gateway received it, whatever the front door: what the
 * `key` and `authorize` options decide on.
 */
export interface GatewayCall {
  /** The full method name, "/pkg.Service/Method". */
  readonly method: string;
  /**
   * The request metadata (HTTP headers without the protocol's own): what the
   * agent will see, except the key and wait-for-ready headers, which the
   * gateway removes before forwarding. `-bin` values are bytes.
   */
  readonly metadata: Metadata;
  /** The protocol the caller speaks. */
  readonly protocol: GatewayProtocol;
  /** The caller's address, "ip:port" (or "unknown"). */
  readonly peer: string;
  /** The caller's TLS identity, for authorizing by client certificate. */
  readonly authContext: AuthContext;
}

/**
 * Decides whether `call` may reach the agent(s) with affinity key `key`:
 * true allows, false denies with PERMISSION_DENIED. To deny with another
 * status (e.g. UNAUTHENTICATED for a missing or bad token) throw a
 * `TunnelError` with that code; its message reaches the caller. Anything
 * else thrown denies the call with INTERNAL (and a process warning), so a
 * broken check never lets a call through.
 */
export type GatewayAuthorizer = (call: GatewayCall, key: string) => boolean | Promise<boolean>;

/**
 * An authorizer that lets every caller reach every agent: for development
 * and for gateways behind something that authorizes already. Passing it is
 * the explicit opt-in to exposing all agents.
 */
export const allowAll: GatewayAuthorizer = () => true;
