import { Metadata } from "@grpc/grpc-js";
import { deferred } from "../../deferred.js";
import type { BidiStream } from "./bidi-stream.js";
import type { CallChannel } from "./call-channel.js";
import type { CallOptions } from "./call-options.js";

/**
 * A bidi-streaming call in bytes as a BidiStream, for code without
 * generated stubs or descriptors (proxies, tools): `method` is the full
 * name "/pkg.Service/Method", messages are serialized. Interceptors of the
 * channel do not run (they work on typed calls). Throws like
 * `CallChannel.startCall` when the call cannot start.
 */
export function openRawBidiStream(channel: CallChannel, method: string, options: CallOptions = {}): BidiStream<Uint8Array, Uint8Array> {
  const headers = deferred<Metadata>();
  const stream = channel.startCall(method, {
    ...options,
    onHeader: (received) => {
      headers.resolve(received);
      options.onHeader?.(received);
    },
  });
  const done = stream.done.then((end) => {
    headers.resolve(new Metadata());
    options.onTrailer?.(end.trailers);
    return end;
  });
  return {
    send: (message) => stream.send(message),
    close: () => stream.closeSend(),
    cancel: (reason) => stream.cancel(reason),
    headers: headers.promise,
    trailers: done.then((end) => end.trailers),
    done,
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          const message = await stream.read();
          if (message === undefined) {
            return;
          }
          yield message;
        }
      } finally {
        stream.cancel(); // left early, or (a no-op) the call is over
      }
    },
  };
}
