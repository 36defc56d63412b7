import { Metadata } from "@grpc/grpc-js";
import type { CallChannel } from "../../api/client/index.js";
import type { CallStream } from "../../api/client/index.js";
import { QuotaExceededError } from "../../api/quotas/index.js";
import { describeKey } from "../../api/reverse/index.js";
import { Code } from "../../code.js";
import type { CallEnd } from "../../ended.js";
import type { ServerStream } from "../../engine/server-stream.js";
import type { StreamHandler } from "../../engine/server-engine.js";
import { TunnelError } from "../../errors.js";
import { SERVED_BY_HEADER, takeRelayKey } from "./relay-metadata.js";

export interface RelayCallsOptions {
  replicaId: string;
  /** This replica's own tunnels for `key` (never another replica: a relayed call is never relayed again). */
  localChannel(key: string): CallChannel;
}

/**
 * The one handler of a relay listener, for every method: it starts the
 * relayed call on a tunnel of this replica for the call's key, with the
 * caller's metadata and remaining deadline, and passes messages through in
 * bytes, one read for one send in each direction, so that flow control
 * holds end to end: a slow agent holds the caller back through the
 * windows of both tunnels and nothing queues here beyond them. Response
 * headers, trailers, the status with its details and cancellation (either
 * way) pass through too. A call this replica cannot take is rejected before
 * any handler saw it — no headers, UNAVAILABLE — so the caller's replica
 * may route it again.
 *
 * (A relay span for tracing would wrap `relayCall`; W3C trace headers pass
 * through as metadata already.)
 */
export function relayCalls(options: RelayCallsOptions): StreamHandler {
  return (stream) => relayCall(stream, options);
}

async function relayCall(stream: ServerStream, options: RelayCallsOptions): Promise<void> {
  const key = takeRelayKey(stream.metadata);
  if (key === undefined) {
    stream.reject(new TunnelError(Code.INVALID_ARGUMENT, "a relayed call must name exactly one affinity key"));
    return;
  }
  const relayed: { call?: CallStream; headersSent: boolean } = { headersSent: false };
  try {
    relayed.call = options.localChannel(key).startCall(stream.method, {
      metadata: stream.metadata,
      deadline: stream.deadline,
      onHeader: (headers) => {
        // While the call runs these come from the agent's handler; at its end they are an empty placeholder.
        if (relayed.call !== undefined && !relayed.call.closed) {
          relayed.headersSent = true;
          sendHeaders(stream, headers, options.replicaId);
        }
      },
    });
  } catch (e) {
    if (e instanceof QuotaExceededError) {
      // Final, not a refusal: the caller's replica must not send it elsewhere.
      sendHeaders(stream, new Metadata(), options.replicaId);
      stream.close(e);
      return;
    }
    stream.reject(notHere(e, key, options.replicaId));
    return;
  }
  const call = relayed.call;
  stream.whenAborted((reason) => call.cancel(reason)); // the caller cancelled, its deadline passed, or the relay tunnel ended
  void pumpRequests(stream, call);
  try {
    for (let message = await call.read(); message !== undefined; message = await call.read()) {
      relayed.headersSent = true; // sending a message sends headers first
      await stream.send(message);
    }
  } catch {
    // The call ended (or this stream did, cancelling it): its end says how.
  }
  finish(stream, await call.done, relayed.headersSent, options.replicaId);
}

/** Requests from the caller to the agent, one at a time; half-closes after the last. */
async function pumpRequests(stream: ServerStream, call: CallStream): Promise<void> {
  try {
    for (let message = await stream.read(); message !== undefined; message = await stream.read()) {
      await call.send(message);
    }
    call.closeSend();
  } catch {
    // Either side ended; the call's end is relayed by relayCall.
  }
}

/** The agent's headers, and which replica served the call. */
function sendHeaders(stream: ServerStream, headers: Metadata, replicaId: string): void {
  stream.responseHeaders.merge(headers);
  stream.responseHeaders.set(SERVED_BY_HEADER, replicaId);
  stream.sendHeaders();
}

/** Ends the relayed stream as the agent's call ended: trailers, status and details; no headers if the agent sent none. */
function finish(stream: ServerStream, end: CallEnd, headersSent: boolean, replicaId: string): void {
  stream.responseTrailers.merge(end.trailers);
  if (!headersSent) {
    stream.responseTrailers.set(SERVED_BY_HEADER, replicaId); // a trailers-only answer says it there
  }
  const error = end.error === undefined ? undefined : new TunnelError(end.error.code, end.error.rawMessage, { details: end.error.details });
  if (error !== undefined && !headersSent) {
    stream.reject(error); // keeps a refusal a refusal, so the caller's replica may route the call again
  } else {
    stream.close(error);
  }
}

/** The rejection of a call for a key this replica cannot start: UNAVAILABLE (a refusal) unless it failed for another reason. */
function notHere(e: unknown, key: string, replicaId: string): TunnelError {
  const error = TunnelError.from(e, Code.UNAVAILABLE);
  if (error.code !== Code.UNAVAILABLE) {
    return error;
  }
  return new TunnelError(Code.UNAVAILABLE, `replica ${replicaId} cannot take calls for key ${describeKey(key)}: ${error.rawMessage}`);
}
