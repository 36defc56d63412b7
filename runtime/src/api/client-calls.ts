import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { ClientStream } from "../engine/client-stream.js";
import type { CallOptions } from "./call-options.js";
import { decodeMessage, encodeMessage } from "./codec.js";
import { methodPath, type BidiStreamingMethod, type ClientStreamingMethod, type ServerStreamingMethod, type UnaryMethod } from "./method-types.js";

/** What the typed calls need from a channel. */
interface StreamStarter {
  startStream(method: string, options?: CallOptions): ClientStream;
}

export async function unaryCall<I extends DescMessage, O extends DescMessage>(
  channel: StreamStarter,
  method: UnaryMethod<I, O>,
  request: MessageInitShape<I>,
  options: CallOptions = {},
): Promise<MessageShape<O>> {
  const stream = channel.startStream(methodPath(method), options);
  try {
    await sendOrCancel(stream, () => encodeMessage(method.input, request));
    stream.closeSend();
    return await readSingleResponse(stream, method);
  } finally {
    await reportTrailers(stream, options);
  }
}

export async function* serverStreamCall<I extends DescMessage, O extends DescMessage>(
  channel: StreamStarter,
  method: ServerStreamingMethod<I, O>,
  request: MessageInitShape<I>,
  options: CallOptions = {},
): AsyncGenerator<MessageShape<O>> {
  const stream = channel.startStream(methodPath(method), options);
  try {
    await sendOrCancel(stream, () => encodeMessage(method.input, request));
    stream.closeSend();
    yield* readResponses(stream, method.output);
  } finally {
    // The consumer stopped iterating early: the call is no longer wanted.
    stream.cancel();
    await reportTrailers(stream, options);
  }
}

export async function clientStreamCall<I extends DescMessage, O extends DescMessage>(
  channel: StreamStarter,
  method: ClientStreamingMethod<I, O>,
  requests: AsyncIterable<MessageInitShape<I>>,
  options: CallOptions = {},
): Promise<MessageShape<O>> {
  const stream = channel.startStream(methodPath(method), options);
  try {
    // Requests are sent concurrently with waiting for the response, so an
    // abort or an early server error ends the call even while the request
    // iterable is blocked.
    void pumpRequests(stream, method.input, requests);
    return await readSingleResponse(stream, method);
  } finally {
    await reportTrailers(stream, options);
  }
}

export async function* bidiStreamCall<I extends DescMessage, O extends DescMessage>(
  channel: StreamStarter,
  method: BidiStreamingMethod<I, O>,
  requests: AsyncIterable<MessageInitShape<I>>,
  options: CallOptions = {},
): AsyncGenerator<MessageShape<O>> {
  const stream = channel.startStream(methodPath(method), options);
  try {
    void pumpRequests(stream, method.input, requests);
    yield* readResponses(stream, method.output);
  } finally {
    stream.cancel();
    await reportTrailers(stream, options);
  }
}

/**
 * Sends one request. If that fails while the call is still open (e.g. the
 * message cannot be serialized), the call is cancelled with the reason; if
 * the call already ended, its outcome is what the caller will see.
 */
async function sendOrCancel(stream: ClientStream, encode: () => Uint8Array): Promise<void> {
  try {
    await stream.send(encode());
  } catch (e) {
    stream.cancel(TunnelError.from(e, Code.INTERNAL));
  }
}

/** Sends every request, then half-closes; any failure cancels the call. */
async function pumpRequests<I extends DescMessage>(
  stream: ClientStream,
  schema: I,
  requests: AsyncIterable<MessageInitShape<I>>,
): Promise<void> {
  try {
    for await (const request of requests) {
      if (stream.done) {
        return; // leaving the loop closes the request iterator
      }
      await stream.send(encodeMessage(schema, request));
    }
    stream.closeSend();
  } catch (e) {
    stream.cancel(TunnelError.from(e));
  }
}

async function readSingleResponse<O extends DescMessage>(
  stream: ClientStream,
  method: { output: O; name: string },
): Promise<MessageShape<O>> {
  const bytes = await stream.read();
  if (bytes === undefined) {
    const error = new TunnelError(Code.INTERNAL, `server ended ${method.name} without sending a response`);
    stream.cancel(error);
    throw error;
  }
  const extra = await stream.read();
  if (extra !== undefined) {
    const error = new TunnelError(Code.INTERNAL, `server sent multiple responses for non-server-stream method ${method.name}`);
    stream.cancel(error);
    throw error;
  }
  return decodeOrCancel(stream, method.output, bytes);
}

async function* readResponses<O extends DescMessage>(stream: ClientStream, schema: O): AsyncGenerator<MessageShape<O>> {
  for (;;) {
    const bytes = await stream.read();
    if (bytes === undefined) {
      return;
    }
    yield decodeOrCancel(stream, schema, bytes);
  }
}

function decodeOrCancel<O extends DescMessage>(stream: ClientStream, schema: O, bytes: Uint8Array): MessageShape<O> {
  try {
    return decodeMessage(schema, bytes);
  } catch (e) {
    const error = TunnelError.from(e, Code.INTERNAL);
    stream.cancel(error);
    throw error;
  }
}

async function reportTrailers(stream: ClientStream, options: CallOptions): Promise<void> {
  if (options.onTrailer !== undefined) {
    const outcome = await stream.finished;
    options.onTrailer(outcome.trailers);
  }
}
