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
}
