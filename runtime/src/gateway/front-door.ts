import type { Metadata } from "@grpc/grpc-js";
import type { TunnelError } from "../errors.js";
import type { GatewayCall } from "./gateway-call.js";

/**
 * One call as a front door (gRPC over HTTP/2, grpc-js, gRPC-Web, Connect)
 * hands it to the forwarding core: the protocol-neutral view. Each front
 * door reads and writes with back-pressure, so that nothing queues in the
 * gateway beyond one message each way.
 */
export interface FrontDoorCall {
  readonly info: GatewayCall;
  /** The caller's deadline, ms since the epoch. */
  readonly deadline: number | undefined;
  /** Aborts when the caller cancels or goes away. */
  readonly signal: AbortSignal;
  /** The JSON codec applies: messages are JSON text, the agent speaks binary. */
  readonly json: boolean;
  /**
   * The next request message, or undefined after the last; rejects with a
   * TunnelError for malformed or oversize input. One read at a time.
   */
  read(): Promise<Uint8Array | undefined>;
  /** Response headers, at most once, before the first message. */
  sendHeaders(headers: Metadata): void;
  /** One response message; resolves once the caller's connection took it. */
  send(message: Uint8Array): Promise<void>;
  /** Ends the call with a status (undefined: OK) and trailers. Only the first end counts. */
  end(error: TunnelError | undefined, trailers: Metadata): void;
}
