import { createContextKey, type ContextKey } from "@connectrpc/connect";
import type { Metadata } from "@grpc/grpc-js";
import type { AuthContext } from "../engine/auth-context.js";

/** What a Connect handler can learn about the tunnel that carries its call. */
export interface TunnelCallInfo {
  /**
   * The request metadata of the tunnel RPC (Go's
   * `TunnelMetadataFromIncomingContext`), e.g. an agent's identity.
   */
  readonly tunnelMetadata: Metadata;
  /** The network peer at the other end of the tunnel RPC (e.g. "ipv4:127.0.0.1:50123"). */
  readonly peer: string;
  /** The tunnel RPC's transport security, on the network server of a forward tunnel. */
  readonly authContext: AuthContext | undefined;
  /** The protocol revision of this call's stream: 1 with flow control, 0 without. */
  readonly protocolRevision: 0 | 1;
}

/**
 * The context value that tells a Connect handler served over a tunnel (see
 * `addConnectRoutes`) about that tunnel; `undefined` when the call did not
 * come through a tunnel (e.g. the same handler served by connect-node):
 *
 * ```ts
 * async say(req, ctx) {
 *   const agent = ctx.values.get(tunnelCallInfo)?.tunnelMetadata.get("agent-id")[0];
 * }
 * ```
 */
export const tunnelCallInfo: ContextKey<TunnelCallInfo | undefined> = createContextKey<TunnelCallInfo | undefined>(undefined, {
  description: "the tunnel carrying this call",
});
