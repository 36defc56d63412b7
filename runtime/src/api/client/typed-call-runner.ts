import type { DescMessage, DescMethod, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code } from "../../code.js";
import { EXTRA_MESSAGE } from "../../engine/message-queue.js";
import { TunnelError } from "../../errors.js";
import type { CallChannel } from "./call-channel.js";
import type { CallOptions } from "./call-options.js";
import type { CallStream } from "./call-stream.js";
import { decodeMessage, encodeMessage } from "./codec.js";
import { methodPath } from "./method-path.js";

// The one path every typed call takes on a CallChannel (with or without
// interceptors): start, send, read, report trailers.

/** Every kind of typed call, as one shape. */
export interface TypedCall<I extends DescMessage, O extends DescMessage> {
  readonly channel: CallChannel;
  readonly method: DescMethod & { readonly input: I; readonly output: O };
  readonly options: CallOptions;
  /** One request (unary, server-streaming) or a stream of them (client-streaming, bidi). */
  readonly input: { readonly one: MessageInitShape<I> } | { readonly many: AsyncIterable<MessageInitShape<I>> };
  /** Exactly one response (unary, client-streaming) or any number. */
  readonly responses: "one" | "many";
}

/**
 * Runs a typed call: starts it, sends its requests, yields its responses
 * (decoded) and reports its trailers. Requests are sent concurrently with
 * reading, so an abort or an early server error ends the call even while a
 * request iterable is blocked. Leaving early cancels the call.
 */
export async function* runTypedCall<I extends DescMessage, O extends DescMessage>(call: TypedCall<I, O>): AsyncGenerator<MessageShape<O>> {
  const { method, options } = call;
  const stream = call.channel.startCall(methodPath(method), options);
  try {
    if ("one" in call.input) {
      await sendOneOrCancel(stream, method.input, call.input.one);
    } else {
      void sendAll(stream, method.input, call.input.many);
    }
    if (call.responses === "one") {
      yield await readSingleResponse(stream, method);
    } else {
      yield* readResponses(stream, method.output);
    }
  } finally {
    stream.cancel(); // the consumer stopped early, or (a no-op) the call is over
    if (options.onTrailer !== undefined) {
      options.onTrailer((await stream.done).trailers);
    }
  }
}

/**
 * A unary call: what runTypedCall does for one, without a generator, with
 * as few promises as the call's steps need (each one costs, and much more
 * while AsyncLocalStorage, i.e. OpenTelemetry's context, is active).
 */
export async function runUnaryCall<I extends DescMessage, O extends DescMessage>(
  channel: CallChannel,
  method: DescMethod & { readonly input: I; readonly output: O },
  request: MessageInitShape<I>,
  options: CallOptions,
): Promise<MessageShape<O>> {
  const stream = channel.startCall(methodPath(method), options);
  try {
    // As sendOneOrCancel does, inline: one async step fewer.
    try {
      await stream.send(encodeMessage(method.input, request));
    } catch (e) {
      stream.cancel(TunnelError.from(e, Code.INTERNAL));
    }
    stream.closeSend();
    return singleResponse(stream, method, await readOnly(stream));
  } finally {
    stream.cancel(); // the consumer stopped early, or (a no-op) the call is over
    if (options.onTrailer !== undefined) {
      options.onTrailer((await stream.done).trailers);
    }
  }
}

/** The one response of a `responses: "one"` call. */
export async function single<O>(responses: AsyncGenerator<O>): Promise<O> {
  const { value } = await responses.next();
  await responses.return(undefined); // runs the generator's end: trailers are reported before this resolves
  return value as O;
}

/**
 * Sends the one request and half-closes. If sending fails while the call is
 * still open (e.g. the message cannot be serialized), the call is cancelled
 * with the reason; if the call already ended, its outcome is what the
 * caller will see.
 */
async function sendOneOrCancel<I extends DescMessage>(stream: CallStream, schema: I, request: MessageInitShape<I>): Promise<void> {
  try {
    await stream.send(encodeMessage(schema, request));
  } catch (e) {
    stream.cancel(TunnelError.from(e, Code.INTERNAL));
  }
  stream.closeSend();
}

/** Sends every request, then half-closes; any failure cancels the call. */
async function sendAll<I extends DescMessage>(stream: CallStream, schema: I, requests: AsyncIterable<MessageInitShape<I>>): Promise<void> {
  try {
    for await (const request of requests) {
      if (stream.closed) {
        return; // leaving the loop closes the request iterator
      }
      await stream.send(encodeMessage(schema, request));
    }
    stream.closeSend();
  } catch (e) {
    stream.cancel(TunnelError.from(e));
  }
}

/** Reads exactly one response: none, or a second one, fails the call. */
async function readSingleResponse<O extends DescMessage>(
  stream: CallStream,
  method: { output: O; name: string },
): Promise<MessageShape<O>> {
  return singleResponse(stream, method, await readOnly(stream));
}

/** A CallStream that can read a call's one response with its end at once (MessageQueue.readOnly): the engine's, a retrying call. */
export interface ReadsOnly {
  readOnly(): Promise<Uint8Array | undefined | typeof EXTRA_MESSAGE>;
}

/**
 * The one response of a call and its end: one read where the stream can
 * (one promise, not two), else two reads. EXTRA_MESSAGE: a second response.
 */
export function readOnly(stream: CallStream): Promise<Uint8Array | undefined | typeof EXTRA_MESSAGE> {
  return typeof (stream as Partial<ReadsOnly>).readOnly === "function" ? (stream as CallStream & ReadsOnly).readOnly() : readTwice(stream);
}

async function readTwice(stream: CallStream): Promise<Uint8Array | undefined | typeof EXTRA_MESSAGE> {
  const bytes = await stream.read();
  return bytes === undefined || (await stream.read()) === undefined ? bytes : EXTRA_MESSAGE;
}

/** The one response, as `readOnly` got it; none, or a second one, fails the call. */
function singleResponse<O extends DescMessage>(
  stream: CallStream,
  method: { output: O; name: string },
  bytes: Uint8Array | undefined | typeof EXTRA_MESSAGE,
): MessageShape<O> {
  if (bytes === undefined) {
    const error = new TunnelError(Code.INTERNAL, `server ended ${method.name} without sending a response`);
    stream.cancel(error);
    throw error;
  }
  if (bytes === EXTRA_MESSAGE) {
    const error = new TunnelError(Code.INTERNAL, `server sent multiple responses for non-server-stream method ${method.name}`);
    stream.cancel(error);
    throw error;
  }
  return decodeOrCancel(stream, method.output, bytes);
}

async function* readResponses<O extends DescMessage>(stream: CallStream, schema: O): AsyncGenerator<MessageShape<O>> {
  for (;;) {
    const bytes = await stream.read();
    if (bytes === undefined) {
      return;
    }
    yield decodeOrCancel(stream, schema, bytes);
  }
}

function decodeOrCancel<O extends DescMessage>(stream: CallStream, schema: O, bytes: Uint8Array): MessageShape<O> {
  try {
    return decodeMessage(schema, bytes);
  } catch (e) {
    const error = TunnelError.from(e, Code.INTERNAL);
    stream.cancel(error);
    throw error;
  }
}
