import type { CallEnd } from "../../ended.js";
import type { TunnelError } from "../../errors.js";

/**
 * One call in serialized bytes, as a CallChannel starts it: what the typed
 * calls, the grpc-js and Connect adapters and proxies are built on. The
 * engine implements it for one tunnel; other implementations may wrap one
 * (retrying on another tunnel, resolving a route first, relaying bytes).
 *
 * Response headers go to the `onHeader` call option, once, before `done`
 * resolves (empty when the server sent none). One reader and one sender at a
 * time.
 */
export interface CallStream {
  /** The full method name, "/pkg.Service/Method". */
  readonly method: string;
  /**
   * Sends one request message. Resolves when it was handed to the transport
   * (waiting while flow control or the transport pushes back); rejects with
   * the call's error when the call has ended.
   */
  send(message: Uint8Array): Promise<void>;
  /** No more requests (half-close). Does nothing once the call has ended. */
  closeSend(): void;
  /**
   * The next response message, or undefined when the call ended
   * successfully and every message was read. Throws the call's error.
   */
  read(): Promise<Uint8Array | undefined>;
  /**
   * Ends the call from this side and tells the server; the call fails with
   * `reason` (CANCELLED by default). Does nothing once the call has ended.
   */
  cancel(reason?: TunnelError): void;
  /** True once the call has ended, however it ended. */
  readonly closed: boolean;
  /** Resolves (never rejects) with how the call ended: its error (undefined for OK) and trailers. */
  readonly done: Promise<CallEnd>;
}
