import type { ServerHttp2Session } from "node:http2";
import type * as grpc from "@grpc/grpc-js";

/**
 * Asks the client of a server call to make its next calls on a new
 * connection: closes the call's HTTP/2 session gracefully (GOAWAY; the
 * streams open on it, this call included, go on until they end). A client
 * behind a TCP balancer then reconnects through it — possibly to another
 * server. grpc-js has no public API for a call's session, so this walks its
 * call objects to the HTTP/2 stream; false (nothing done) when it cannot.
 */
export function goAway(call: grpc.ServerDuplexStream<unknown, unknown>): boolean {
  const session = sessionOf(call);
  if (session === undefined || session.closed || session.destroyed) {
    return false;
  }
  session.close();
  return true;
}

function sessionOf(call: grpc.ServerDuplexStream<unknown, unknown>): ServerHttp2Session | undefined {
  let layer: unknown = (call as { call?: unknown }).call;
  for (let depth = 0; typeof layer === "object" && layer !== null && depth < 16; depth++) {
    const session = (layer as { stream?: { session?: ServerHttp2Session } }).stream?.session;
    if (session !== undefined) {
      return typeof session.close === "function" ? session : undefined;
    }
    layer = (layer as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}
