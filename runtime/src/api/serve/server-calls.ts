import type { DescMessage, DescMethod, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import { Code } from "../../code.js";
import { TunnelError } from "../../errors.js";
import { EXTRA_MESSAGE } from "../../engine/message-queue.js";
import type { ServerStream } from "../../engine/server-stream.js";
import type { StreamHandler } from "../../engine/server-engine.js";
import { decodeMessage, encodeMessage } from "../client/index.js";
import { handlerContext } from "./handler-context.js";
import type { BidiStreamingImpl, ClientStreamingImpl, ServerStreamingImpl, UnaryImpl } from "./service-impl.js";

/**
 * Turns a typed method implementation into a StreamHandler that works in
 * bytes: decodes requests, encodes responses, enforces how many requests a
 * method kind accepts.
 */
export function methodHandler(method: DescMethod, impl: (...args: never[]) => unknown): StreamHandler {
  const { input, output } = method;
  switch (method.methodKind) {
    case "unary": {
      const fn = impl as unknown as UnaryImpl<DescMessage, DescMessage>;
      // The read inline (not readSingleRequest): the common call, with as few promises as it needs.
      return async (stream) => {
        const request = singleRequest(stream, input, await stream.readOnly());
        const response = await fn(request, handlerContext(stream));
        await stream.send(encodeMessage(output, response));
      };
    }
    case "server_streaming": {
      const fn = impl as unknown as ServerStreamingImpl<DescMessage, DescMessage>;
      // Returning (not awaiting) the send loop ends this frame early: an
      // idle stream then holds one suspended function, not two.
      return async (stream) => {
        const request = await readSingleRequest(stream, input);
        return sendAll(stream, output, fn(request, handlerContext(stream)));
      };
    }
    case "client_streaming": {
      const fn = impl as unknown as ClientStreamingImpl<DescMessage, DescMessage>;
      return async (stream) => {
        const response = await fn(readRequests(stream, input), handlerContext(stream));
        await stream.send(encodeMessage(output, response));
      };
    }
    case "bidi_streaming": {
      const fn = impl as unknown as BidiStreamingImpl<DescMessage, DescMessage>;
      return (stream) => sendAll(stream, output, fn(readRequests(stream, input), handlerContext(stream)));
    }
  }
}

/**
 * The one request of a unary or server-streaming call. Like Go, it waits
 * for the client's half-close so that a second request is caught.
 */
export async function readSingleRequest<I extends DescMessage>(stream: ServerStream, schema: I): Promise<MessageShape<I>> {
  return singleRequest(stream, schema, await stream.readOnly());
}

/** The one request, from `ServerStream.readOnly` (which waited for the half-close). */
export function singleRequest<I extends DescMessage>(
  stream: ServerStream,
  schema: I,
  bytes: Uint8Array | undefined | typeof EXTRA_MESSAGE,
): MessageShape<I> {
  if (bytes === undefined) {
    throw new TunnelError(Code.INVALID_ARGUMENT, `no request received for method ${stream.method}`);
  }
  if (bytes === EXTRA_MESSAGE) {
    throw new TunnelError(Code.INVALID_ARGUMENT, `Already received request for non-client-stream method ${stream.method}`);
  }
  return decodeMessage(schema, bytes);
}

export async function* readRequests<I extends DescMessage>(stream: ServerStream, schema: I): AsyncGenerator<MessageShape<I>> {
  for (;;) {
    const bytes = await stream.read();
    if (bytes === undefined) {
      return;
    }
    yield decodeMessage(schema, bytes);
  }
}

export async function sendAll<O extends DescMessage>(
  stream: ServerStream,
  schema: O,
  responses: AsyncIterable<MessageInitShape<O>>,
): Promise<void> {
  for await (const response of responses) {
    await stream.send(encodeMessage(schema, response));
  }
}
