import type { Metadata } from "@grpc/grpc-js";
import type { TunnelError } from "./errors.js";

/*
 * Everything that ends — a tunnel, a served reverse tunnel, a call — says so
 * the same way: `closed` (a boolean, true once it has ended) and `done` (a
 * promise that resolves, never rejects, with how it ended: an object with
 * `error`, undefined for a clean end). The shapes below only add what each
 * thing has on top.
 */

/** How a tunnel ended: `error` is undefined when it ended cleanly. */
export interface TunnelEnd {
  /** Why it ended, or undefined for a clean end. */
  readonly error: TunnelError | undefined;
}

/** How a call ended: its status as an error (undefined for OK) and its trailers. */
export interface CallEnd extends TunnelEnd {
  /** The trailers the server sent with the status (empty if none). */
  readonly trailers: Metadata;
  /**
   * True when the server refused the call before any handler saw it, so it
   * is safe to retry elsewhere (like HTTP/2's REFUSED_STREAM): it closed the
   * stream with UNAVAILABLE (e.g. "server is shutting down") or
   * RESOURCE_EXHAUSTED (e.g. too many streams) without sending headers or
   * any message first. Tunnel servers (this one and Go's) answer every
   * stream they accept with headers before its end, so no wire change is
   * needed to tell the two apart. Absent (or false) for every other end.
   */
  readonly refused?: boolean;
}
