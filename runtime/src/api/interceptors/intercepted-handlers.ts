import type { DescMessage, DescMethod, MessageShape } from "@bufbuild/protobuf";
import { Code } from "../../code.js";
import type { StreamHandler } from "../../engine/server-engine.js";
import type { ServerStream } from "../../engine/server-stream.js";
import type { Metadata } from "@grpc/grpc-js";
import { TunnelError } from "../../errors.js";
import { encodeMessage, toMessage } from "../client/index.js";
import { messagesOf, once } from "../client/index.js";
import { handlerContext, type HandlerContext } from "../serve/index.js";
import { applyInterceptors, type AnyRequest, type AnyResponse, type Interceptor, type InterceptorFn } from "./interceptors.js";
import { readRequests, readSingleRequest, sendAll, singleRequest } from "../serve/index.js";
import { defineSharedGetter } from "./shared-getter.js";
import type { BidiStreamingImpl, ClientStreamingImpl, ServerStreamingImpl, UnaryImpl } from "../serve/index.js";

/**
 * A typed method implementation served through handler interceptors: the
 * chain is built once per method; per call, the request interceptors see is
 * built from the stream and their response is sent back.
 */
export function interceptedHandler(
  method: DescMethod,
  impl: (...args: never[]) => unknown,
  interceptors: readonly Interceptor[],
): StreamHandler {
  const serve = applyInterceptors(interceptors, implementationStep(method, impl));
  const { input, output } = method;
  const unary = method.methodKind === "unary";
  return async (stream) => {
    const context = handlerContext(stream);
    const service = method.parent;
    const header = context.metadata;
    // The read inline (not readSingleRequest): the common call, with as few promises as it needs.
    const message = unary ? singleRequest(stream, input, await stream.readOnly()) : requestStream(stream, method);
    const deadline = context.deadline?.getTime();
    // A getter (shared, see defineSharedGetter): the context makes its signal only when someone uses it.
    const request = defineSharedGetter(
      { method, service, header, deadline, context, stream: !unary, message },
      "signal",
      contextSignal,
    ) as unknown as AnyRequest;
    const response = await serve(request);
    if (response.stream !== request.stream) {
      throw new TunnelError(
        Code.INTERNAL,
        `an interceptor answered ${method.name} with a ${response.stream ? "stream" : "unary"} response`,
      );
    }
    if (!(OWN in response)) {
      // An interceptor's own response object: headers or trailers put in place of the call's are merged in.
      mergeInto(context.responseHeaders, response.header);
      mergeInto(context.responseTrailers, response.trailer);
    }
    if (!response.stream) {
      await stream.send(encodeMessage(output, response.message));
      return;
    }
    return sendAll(stream, output, response.message);
  };
}

function contextSignal(this: { context: HandlerContext }): AbortSignal {
  return this.context.signal;
}

function mergeInto(own: Metadata, given: Metadata): void {
  if (given !== own) {
    own.merge(given);
  }
}

/**
 * Marks the responses the implementation step makes (and spreads of them),
 * and holds their call's context: their `header` and `trailer` are getters
 * of the call's own objects, which the stream creates only when used, so
 * they are not compared.
 */
const OWN = Symbol("own response");

type OwnResponse = { [OWN]: HandlerContext };

function ownHeader(this: OwnResponse): Metadata {
  return this[OWN].responseHeaders;
}

function ownTrailer(this: OwnResponse): Metadata {
  return this[OWN].responseTrailers;
}

/** The request stream of a streaming call; for server streaming, its one request (read when asked for). */
function requestStream(stream: ServerStream, method: DescMethod): AsyncIterable<MessageShape<DescMessage>> {
  if (method.methodKind === "server_streaming") {
    return (async function* () {
      yield await readSingleRequest(stream, method.input);
    })();
  }
  return readRequests(stream, method.input);
}

/** The innermost step: the implementation itself, its answer as a response. */
function implementationStep(method: DescMethod, impl: (...args: never[]) => unknown): InterceptorFn {
  const { output } = method;
  const service = method.parent;
  // Shared getters (see defineSharedGetter); one object, not a spread of a common part: a spread would call them.
  const respond = (
    context: HandlerContext,
    stream: boolean,
    message: MessageShape<DescMessage> | AsyncIterable<MessageShape<DescMessage>>,
  ): AnyResponse => {
    const response = defineSharedGetter({ [OWN]: context, method, service, stream, message }, "header", ownHeader);
    return defineSharedGetter(response, "trailer", ownTrailer) as unknown as AnyResponse;
  };
  switch (method.methodKind) {
    case "unary": {
      const fn = impl as unknown as UnaryImpl<DescMessage, DescMessage>;
      return async (req) => {
        const context = contextOf(req);
        const message = toMessage(output, await fn(req.stream ? await single(req) : req.message, context));
        return respond(context, false, message);
      };
    }
    case "server_streaming": {
      const fn = impl as unknown as ServerStreamingImpl<DescMessage, DescMessage>;
      return async (req) => {
        const context = contextOf(req);
        const message = messagesOf(output, fn(await single(req), context));
        return respond(context, true, message);
      };
    }
    case "client_streaming": {
      const fn = impl as unknown as ClientStreamingImpl<DescMessage, DescMessage>;
      return async (req) => {
        const context = contextOf(req);
        const message = toMessage(output, await fn(many(req), context));
        return respond(context, true, once(message));
      };
    }
    case "bidi_streaming": {
      const fn = impl as unknown as BidiStreamingImpl<DescMessage, DescMessage>;
      return async (req) => {
        const context = contextOf(req);
        return respond(context, true, messagesOf(output, fn(many(req), context)));
      };
    }
  }
}

/** The handler's context, which an interceptor passing on a request of its own must keep. */
function contextOf(req: AnyRequest): HandlerContext {
  if (req.context === undefined) {
    throw new TunnelError(Code.INTERNAL, `an interceptor passed on a request for ${req.method.name} without the handler's context`);
  }
  return req.context;
}

/** The one request of a unary or server-streaming call. */
async function single(req: AnyRequest): Promise<MessageShape<DescMessage>> {
  if (!req.stream) {
    return req.message;
  }
  for await (const message of req.message) {
    return message;
  }
  throw new TunnelError(Code.INVALID_ARGUMENT, `no request received for method ${req.method.name}`);
}

function many(req: AnyRequest): AsyncIterable<MessageShape<DescMessage>> {
  return req.stream ? req.message : once(req.message);
}
