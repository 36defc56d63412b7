import type { DescMessage, DescMethod, MessageShape } from "@bufbuild/protobuf";
import { Code } from "../code.js";
import type { StreamHandler } from "../engine/server-engine.js";
import type { ServerStream } from "../engine/server-stream.js";
import { TunnelError } from "../errors.js";
import { encodeMessage, toMessage } from "./codec.js";
import { messagesOf, once } from "./message-streams.js";
import { handlerContext, type HandlerContext } from "./handler-context.js";
import { applyInterceptors, type HandlerFn, type HandlerInterceptor, type HandlerRequest } from "./interceptors.js";
import { readRequests, readSingleRequest, sendAll } from "./server-calls.js";
import type { BidiStreamingImpl, ClientStreamingImpl, ServerStreamingImpl, UnaryImpl } from "./service-impl.js";

/**
 * A typed method implementation served through handler interceptors: the
 * chain is built once per method; per call, the request interceptors see is
 * built from the stream and their response is sent back.
 */
export function interceptedHandler(
  method: DescMethod,
  impl: (...args: never[]) => unknown,
  interceptors: readonly HandlerInterceptor[],
): StreamHandler {
  const serve = applyInterceptors(interceptors, implementationStep(method, impl));
  const { input, output } = method;
  return async (stream) => {
    const context = handlerContext(stream);
    const base = { method, service: method.parent, header: context.metadata, context };
    const request: HandlerRequest =
      method.methodKind === "unary"
        ? withSignal({ ...base, stream: false, message: await readSingleRequest(stream, input) }, context)
        : withSignal({ ...base, stream: true, message: requestStream(stream, method) }, context);
    const response = await serve(request);
    if (response.stream !== request.stream) {
      throw new TunnelError(
        Code.INTERNAL,
        `an interceptor answered ${method.name} with a ${response.stream ? "stream" : "unary"} response`,
      );
    }
    // Headers and trailers are the call's own objects; a replaced one is merged in.
    if (response.header !== context.responseHeaders) {
      context.responseHeaders.merge(response.header);
    }
    if (response.trailer !== context.responseTrailers) {
      context.responseTrailers.merge(response.trailer);
    }
    if (!response.stream) {
      await stream.send(encodeMessage(output, response.message));
      return;
    }
    return sendAll(stream, output, response.message);
  };
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

/** The request with `signal` read from the context only when used (creating it costs an AbortController). */
function withSignal<R extends object>(request: R, context: HandlerContext): R & { readonly signal: AbortSignal } {
  return Object.defineProperty(request, "signal", { get: () => context.signal, enumerable: true }) as R & { readonly signal: AbortSignal };
}

/** The innermost step: the implementation itself, its answer as a response. */
function implementationStep(method: DescMethod, impl: (...args: never[]) => unknown): HandlerFn {
  const { output } = method;
  const respond = (context: HandlerContext) => ({
    method,
    service: method.parent,
    header: context.responseHeaders,
    trailer: context.responseTrailers,
  });
  switch (method.methodKind) {
    case "unary": {
      const fn = impl as unknown as UnaryImpl<DescMessage, DescMessage>;
      return async (req) => {
        const message = toMessage(output, await fn(await single(req), req.context));
        return { ...respond(req.context), stream: false, message };
      };
    }
    case "server_streaming": {
      const fn = impl as unknown as ServerStreamingImpl<DescMessage, DescMessage>;
      return async (req) => {
        const message = messagesOf(output, fn(await single(req), req.context));
        return { ...respond(req.context), stream: true, message };
      };
    }
    case "client_streaming": {
      const fn = impl as unknown as ClientStreamingImpl<DescMessage, DescMessage>;
      return async (req) => {
        const message = toMessage(output, await fn(many(req), req.context));
        return { ...respond(req.context), stream: true, message: once(message) };
      };
    }
    case "bidi_streaming": {
      const fn = impl as unknown as BidiStreamingImpl<DescMessage, DescMessage>;
      return async (req) => ({ ...respond(req.context), stream: true, message: messagesOf(output, fn(many(req), req.context)) });
    }
  }
}

/** The one request of a unary or server-streaming call. */
async function single(req: HandlerRequest): Promise<MessageShape<DescMessage>> {
  if (!req.stream) {
    return req.message;
  }
  for await (const message of req.message) {
    return message;
  }
  throw new TunnelError(Code.INVALID_ARGUMENT, `no request received for method ${req.method.name}`);
}

function many(req: HandlerRequest): AsyncIterable<MessageShape<DescMessage>> {
  return req.stream ? req.message : once(req.message);
}
