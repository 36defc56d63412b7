import type { CallOptions } from "./call-options.js";
import type { CallStream } from "./call-stream.js";

/**
 * Anything tunneled calls can be made on: one tunnel (forward or reverse),
 * a round-robin pool of reverse tunnels, or anything that routes a call to
 * one of those. Like grpc-js's `createCall`, it has one method: the typed
 * calls (`unaryCall`, ..., `createTunnelClient`) and the generated
 * `*TunnelClient` classes are written once on top of it.
 */
export interface CallChannel {
  /**
   * Starts a call to `method` ("/pkg.Service/Method") in serialized bytes.
   * Throws a TunnelError when the call cannot start at all (e.g. no tunnel,
   * a closed tunnel, metadata the tunnel cannot carry, an aborted signal);
   * every later failure arrives through the returned stream.
   */
  startCall(method: string, options?: CallOptions): CallStream;
}
