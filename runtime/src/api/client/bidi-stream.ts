import type { DescMessage, DescMethodBiDiStreaming, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { Code } from "../../code.js";
import { deferred } from "../../deferred.js";
import type { CallEnd } from "../../ended.js";
import { TunnelError } from "../../errors.js";
import type { CallChannel } from "./call-channel.js";
import type { CallOptions } from "./call-options.js";
import { PushRequests } from "./push-requests.js";
import { bidiStreamCall } from "./typed-calls.js";

/**
 * A bidi-streaming call driven by pushing: for interactive sessions (a
 * shell, a chat) where each request depends on what came back.
 *
 * ```ts
 * const shell = agent.openShell({ timeoutMs: 60_000 });
 * await shell.send({ line: "uptime" });
 * for await (const out of shell) {
 *   console.log(out.output);
 *   if (done(out)) shell.close();
 * }
 * ```
 *
 * One message is read ahead of the iteration, so the call's end (and its
 * failure) is seen even while nobody iterates. Leaving the iteration early
 * cancels the call.
 */
export interface BidiStream<In, Out> extends AsyncIterable<Out> {
  /**
   * Sends one request. Resolves once it was sent (waiting while the peer's
   * flow-control window is full), so awaiting each send bounds what is held;
   * rejects with the call's error once the call has ended, and after `close`.
   */
  send(message: In): Promise<void>;
  /** No more requests (half-close); the responses go on. */
  close(): void;
  /** Ends the call from this side and tells the server; it fails with `reason` (CANCELLED by default). */
  cancel(reason?: TunnelError): void;
  /** The response headers; empty when the call ended without any. Never rejects. */
  readonly headers: Promise<Metadata>;
  /** The trailers, once the call has ended, however it ended. Never rejects. */
  readonly trailers: Promise<Metadata>;
  /** How the call ended: its error (undefined for OK) and trailers. Never rejects. */
  readonly done: Promise<CallEnd>;
}

/**
 * Starts a bidi-streaming call of `method` on `channel` as a BidiStream
 * (what the generated `open<Method>` helpers return). The call goes through
 * the channel's interceptors and client options like any typed call.
 */
export function openBidiStream<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  method: DescMethodBiDiStreaming<I, O>,
  options: CallOptions = {},
): BidiStream<MessageInitShape<I>, MessageShape<O>> {
  const requests = new PushRequests<MessageInitShape<I>>();
  const headers = deferred<Metadata>();
  const trailers = deferred<Metadata>();
  const ended = deferred<CallEnd>();
  const canceller = new AbortController();
  const signal = options.signal === undefined ? canceller.signal : AbortSignal.any([options.signal, canceller.signal]);
  const responses = bidiStreamCall(channel, method, requests, {
    ...options,
    signal,
    onHeader: (received) => {
      headers.resolve(received);
      options.onHeader?.(received);
    },
    onTrailer: (received) => {
      trailers.resolve(received);
      options.onTrailer?.(received);
    },
  })[Symbol.asyncIterator]();

  let over = false;
  const end = (error: TunnelError | undefined) => {
    if (over) {
      return;
    }
    over = true;
    headers.resolve(new Metadata());
    trailers.resolve(new Metadata());
    void trailers.promise.then((received) => ended.resolve({ error, trailers: received }));
    requests.end(error ?? new TunnelError(Code.INTERNAL, "call already completed"));
  };
  const readAhead = () => {
    const next = responses.next();
    next.then(
      (result) => result.done && end(undefined),
      (e: unknown) => end(TunnelError.from(e)),
    );
    return next;
  };
  let ahead = readAhead(); // starts the call

  return {
    send: (message) => requests.push(message),
    close: () => requests.close(),
    cancel: (reason) => canceller.abort(reason ?? new TunnelError(Code.CANCELLED, "call cancelled")),
    headers: headers.promise,
    trailers: trailers.promise,
    done: ended.promise,
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          const result = await ahead;
          if (result.done) {
            return;
          }
          ahead = readAhead();
          yield result.value;
        }
      } finally {
        if (!over) {
          canceller.abort(new TunnelError(Code.CANCELLED, "the responses were left before the call ended"));
        }
      }
    },
  };
}
