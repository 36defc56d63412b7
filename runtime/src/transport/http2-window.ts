import type { Http2Session, Http2Stream } from "node:http2";
import { HTTP2_DEFAULT_WINDOW_BYTES, HTTP2_MAX_WINDOW_BYTES } from "../engine/limits.js";

/** The window granted per session, by the first tunnel RPC that arrived on it. */
const granted = new WeakMap<Http2Session, number>();

/**
 * Grants `bytes` of HTTP/2 stream window on the connection under a tunnel
 * RPC, and twice that for the connection: once per connection, by its
 * first tunnel RPC (a later one with other limits keeps what was granted).
 * A grpc-js server keeps HTTP/2's 65,535 bytes and offers no option to
 * change it, so a peer could send a tunnel (uploads, an agent's answers)
 * only that much per round trip of window updates: a Go client uploading
 * 64 KiB messages moved 83 MiB/s, at 13 ms of server CPU per MiB; with 1 MiB
 * granted, 161 MiB/s at 6.8 ms (bench/README.md).
 *
 * A SETTINGS change applies to the streams already open (the tunnel RPC
 * itself). Returns the stream window now in force: what the peer may send
 * on a stream whose reading is paused.
 */
export function grantStreamWindow(stream: Http2Stream, bytes: number): number {
  const session = stream.session;
  if (session === undefined || session.destroyed || session.closed) {
    return HTTP2_DEFAULT_WINDOW_BYTES;
  }
  const already = granted.get(session);
  if (already !== undefined) {
    return already;
  }
  if (bytes <= HTTP2_DEFAULT_WINDOW_BYTES) {
    granted.set(session, HTTP2_DEFAULT_WINDOW_BYTES);
    return HTTP2_DEFAULT_WINDOW_BYTES;
  }
  try {
    session.settings({ initialWindowSize: bytes });
    session.setLocalWindowSize(Math.min(2 * bytes, HTTP2_MAX_WINDOW_BYTES));
  } catch {
    // The session is going away (or has too many SETTINGS unacknowledged): keep the default.
    granted.set(session, HTTP2_DEFAULT_WINDOW_BYTES);
    return HTTP2_DEFAULT_WINDOW_BYTES;
  }
  granted.set(session, bytes);
  return bytes;
}
