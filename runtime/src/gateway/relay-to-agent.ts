import { Metadata } from "@grpc/grpc-js";
import type { CallChannel, CallStream } from "../api/client/index.js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { FrontDoorCall } from "./front-door.js";

/**
 * Forwards one call, in bytes, to `channel` (the key's channel: a local
 * reverse tunnel, or the relay to the replica holding the key) and the
 * answer back. One read for one send in each direction, so flow control
 * holds end to end: a slow agent holds the caller back through the
 * tunnel's window and the caller's HTTP/2 (or TCP) window, and nothing
 * queues here beyond one message each way. Response headers, trailers, the
 * status with its details, the deadline and cancellation (either way) pass
 * through.
 */
export async function relayToAgent(call: FrontDoorCall, channel: CallChannel, waitForReady: boolean): Promise<void> {
  const relayed: { stream?: CallStream } = {};
  try {
    relayed.stream = channel.startCall(call.info.method, {
      metadata: call.info.metadata,
      deadline: call.deadline,
      signal: call.signal, // the caller cancelled or went away: the agent's handler sees its signal fire
      waitForReady,
      onHeader: (headers) => {
        // While the call runs these come from the agent; at its end they are an empty placeholder.
        if (relayed.stream !== undefined && !relayed.stream.closed) {
          call.sendHeaders(headers);
        }
      },
    });
  } catch (e) {
    call.end(TunnelError.from(e, Code.UNAVAILABLE), new Metadata());
    return;
  }
  const stream = relayed.stream;
  void pumpRequests(call, stream);
  try {
    for (let message = await stream.read(); message !== undefined; message = await stream.read()) {
      await sendResponse(call, stream, message);
    }
  } catch {
    // The call ended (or the caller went away, cancelling it): its end says how.
  }
  const end = await stream.done;
  call.end(end.error, end.trailers);
}

/** Requests from the caller to the agent, one at a time; half-closes after the last. */
async function pumpRequests(call: FrontDoorCall, stream: CallStream): Promise<void> {
  for (;;) {
    let message: Uint8Array | undefined;
    try {
      message = await call.read();
    } catch (e) {
      stream.cancel(TunnelError.from(e, Code.INTERNAL)); // malformed or oversize input ends the call with its status
      return;
    }
    if (message === undefined) {
      stream.closeSend();
      return;
    }
    try {
      await stream.send(message);
    } catch {
      return; // the call ended; relayToAgent reports how
    }
  }
}

async function sendResponse(call: FrontDoorCall, stream: CallStream, message: Uint8Array): Promise<void> {
  try {
    await call.send(message);
  } catch (e) {
    stream.cancel(TunnelError.from(e, Code.CANCELLED));
    throw e;
  }
}
