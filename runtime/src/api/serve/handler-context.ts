import type { Metadata } from "@grpc/grpc-js";
import type { AuthContext } from "../../engine/auth-context.js";
import type { ServerStream } from "../../engine/server-stream.js";

/** What a tunneled call's handler knows about its call. */
export interface HandlerContext {
  /** The full method name, "/pkg.Service/Method". */
  readonly method: string;
  /** The call's request metadata. */
  readonly metadata: Metadata;
  /**
   * The request metadata of the tunnel RPC carrying this call (Go's
   * `TunnelMetadataFromIncomingContext`).
   */
  readonly tunnelMetadata: Metadata;
  /** The network peer at the other end of the tunnel RPC (e.g. "ipv4:127.0.0.1:50123"), as grpc-js handlers see `getPeer()`. */
  readonly peer: string;
  /**
   * The tunnel RPC's transport security, as grpc-js handlers see
   * `getAuthContext()`: with TLS, `transportSecurityType: "ssl"` and
   * `sslPeerCertificate` — on the network server (forward tunnels) the
   * client's certificate once verified, on an agent (reverse tunnels) the
   * network server's. `{}` without TLS (or an unverified client).
   */
  readonly authContext: AuthContext;
  /** The protocol revision of this call's stream: 1 with flow control, 0 without. */
  readonly protocolRevision: 0 | 1;
  /** When the call must be done, from the client's `grpc-timeout`. */
  readonly deadline: Date | undefined;
  /** Aborted when the client cancels, the deadline passes or the tunnel ends. */
  readonly signal: AbortSignal;
  /** Response headers: add to them before the first response, or call `sendHeaders`. */
  readonly responseHeaders: Metadata;
  /** Response trailers, sent when the call ends (also on error). */
  readonly responseTrailers: Metadata;
  /** Sends the response headers now instead of with the first response. */
  sendHeaders(): void;
}

/**
 * The context of a handler, over its stream. Getters, not copied fields:
 * the stream creates headers, trailers and the signal only when used.
 */
class StreamHandlerContext implements HandlerContext {
  constructor(private readonly stream: ServerStream) {}
  get method(): string {
    return this.stream.method;
  }
  get metadata(): Metadata {
    return this.stream.metadata;
  }
  get tunnelMetadata(): Metadata {
    return this.stream.tunnelMetadata;
  }
  get peer(): string {
    return this.stream.peer;
  }
  get authContext(): AuthContext {
    return this.stream.authContext ?? {};
  }
  get protocolRevision(): 0 | 1 {
    return this.stream.protocolRevision;
  }
  get deadline(): Date | undefined {
    return this.stream.deadline;
  }
  get signal(): AbortSignal {
    return this.stream.signal;
  }
  get responseHeaders(): Metadata {
    return this.stream.responseHeaders;
  }
  get responseTrailers(): Metadata {
    return this.stream.responseTrailers;
  }
  sendHeaders(): void {
    this.stream.sendHeaders();
  }
}

export function handlerContext(stream: ServerStream): HandlerContext {
  return new StreamHandlerContext(stream);
}
