import type { Metadata } from "@grpc/grpc-js";
import type { MetadataInit } from "../../metadata.js";
import type { TunnelChannel } from "../tunnels/index.js";

/** Options of one tunneled call. */
export interface CallOptions {
  /** Request metadata. */
  metadata?: MetadataInit;
  /** Time limit for the call in milliseconds; sent as `grpc-timeout`. */
  timeoutMs?: number;
  /** Absolute deadline (a Date or ms since the epoch); the earlier of this and `timeoutMs` applies. */
  deadline?: Date | number;
  /** Aborting it cancels the call (the server's handler sees its signal fire). */
  signal?: AbortSignal;
  /** Receives the response headers (empty when the server sent none). */
  onHeader?: (headers: Metadata) => void;
  /** Receives the trailers when the call ends, successfully or not. */
  onTrailer?: (trailers: Metadata) => void;
  /**
   * Receives the tunnel that carries the call (useful with round-robin
   * channels); again with the new one if a refused call is retried on another.
   * Not called for calls a cluster relays to another replica.
   */
  onTunnel?: (tunnel: TunnelChannel) => void;
  /**
   * On reverse channels (`keyAsChannel`, `asChannel`): when no tunnel can
   * take the call now, wait for one — within the call's deadline and signal —
   * instead of failing at once with UNAVAILABLE, and keep waiting after
   * refusals (an agent stopping, a replica draining) until another tunnel
   * takes it. In cluster mode this waits for the key on any replica. Ignored
   * on a single tunnel. Like gRPC's `waitForReady`; grpc-js clients set it
   * with `metadata.setOptions({ waitForReady: true })`.
   */
  waitForReady?: boolean;
}

/** The call's absolute deadline in ms since the epoch, if it has one. */
export function callDeadline(options: CallOptions): number | undefined {
  const candidates: number[] = [];
  if (options.timeoutMs !== undefined) {
    candidates.push(Date.now() + options.timeoutMs);
  }
  if (options.deadline !== undefined) {
    candidates.push(options.deadline instanceof Date ? options.deadline.getTime() : options.deadline);
  }
  return candidates.length === 0 ? undefined : Math.min(...candidates);
}
