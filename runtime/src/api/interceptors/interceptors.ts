import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import type { HandlerContext } from "../serve/index.js";

/*
 * Interceptors in the shape connect-es users know, `(next) => async (req) =>
 * { ...; const res = await next(req); ...; return res; }`, for typed clients
 * (CallInterceptor, attached to a channel with `withInterceptors`) and typed
 * handlers (HandlerInterceptor, the `interceptors` option of a
 * TunnelServiceHandler or ReverseTunnelServer).
 *
 * As in connect-es, a unary call has a single request and response message
 * (`stream: false`); every other kind has AsyncIterables of messages
 * (`stream: true`), with one message where the method has one.
 */

/** A method whose input and output types are known. */
export type MethodOf<I extends DescMessage, O extends DescMessage> = DescMethod & {
  /** The request message type. */
  readonly input: I;
  /** The response message type. */
  readonly output: O;
};

interface CallRequestBase<I extends DescMessage, O extends DescMessage> {
  /** The method (its descriptor). */
  readonly method: MethodOf<I, O>;
  /** The method's service (`method.parent`). */
  readonly service: DescService;
  /** The request metadata sent with the call; interceptors may change it (e.g. add a token). */
  readonly header: Metadata;
  /** Aborting it cancels the call. */
  readonly signal: AbortSignal;
  /** The call's absolute deadline in ms since the epoch, from `timeoutMs` / `deadline`, if any. */
  readonly deadline: number | undefined;
}

/** A unary call as client interceptors see it. */
export interface UnaryCallRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends CallRequestBase<I, O> {
  /** False: a unary call. */
  readonly stream: false;
  /** The request. */
  readonly message: MessageShape<I>;
}

/** A streaming call (server, client or bidi) as client interceptors see it. */
export interface StreamCallRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends CallRequestBase<I, O> {
  /** True: a server-streaming, client-streaming or bidi call. */
  readonly stream: true;
  /** The requests, consumed as they are sent (once: a stream cannot be replayed). */
  readonly message: AsyncIterable<MessageShape<I>>;
}

/** A typed call as client interceptors see it: unary or streaming (see `stream`). */
export type CallRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> =
  | UnaryCallRequest<I, O>
  | StreamCallRequest<I, O>;

interface ResponseBase<I extends DescMessage, O extends DescMessage> {
  /** The method (its descriptor). */
  readonly method: MethodOf<I, O>;
  /** The method's service (`method.parent`). */
  readonly service: DescService;
  /** Response headers. */
  readonly header: Metadata;
  /** Response trailers: complete once the call has ended (for streams, once `message` is exhausted). */
  readonly trailer: Metadata;
}

/** The response of a unary call, to client interceptors. */
export interface UnaryCallResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends ResponseBase<I, O> {
  /** False: a unary call. */
  readonly stream: false;
  /** The response. */
  readonly message: MessageShape<O>;
}

/** The response of a streaming call, to client interceptors: returned once its headers arrived. */
export interface StreamCallResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends ResponseBase<I, O> {
  /** True: a server-streaming, client-streaming or bidi call. */
  readonly stream: true;
  /** The responses; leaving early cancels the call, and a failed call throws its TunnelError. */
  readonly message: AsyncIterable<MessageShape<O>>;
}

/** What a typed call answered, to client interceptors: unary or streaming, like its request. */
export type CallResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> =
  | UnaryCallResponse<I, O>
  | StreamCallResponse<I, O>;

/** One step of a client call: the next interceptor, or the call itself. */
export type CallFn = (request: CallRequest) => Promise<CallResponse>;

/** Wraps typed client calls: `(next) => async (req) => next(req)`. */
export type CallInterceptor = (next: CallFn) => CallFn;

interface HandlerRequestBase<I extends DescMessage, O extends DescMessage> {
  /** The method (its descriptor). */
  readonly method: MethodOf<I, O>;
  /** The method's service (`method.parent`). */
  readonly service: DescService;
  /** The call's request metadata (`context.metadata`). */
  readonly header: Metadata;
  /** Aborted when the client cancels, the deadline passes or the tunnel ends (`context.signal`). */
  readonly signal: AbortSignal;
  /** Everything else a handler knows: tunnel metadata, peer, deadline, response headers and trailers. */
  readonly context: HandlerContext;
}

/** A unary call as handler interceptors see it. */
export interface UnaryHandlerRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage>
  extends HandlerRequestBase<I, O> {
  /** False: a unary call. */
  readonly stream: false;
  /** The request. */
  readonly message: MessageShape<I>;
}

/** A streaming call as handler interceptors see it. */
export interface StreamHandlerRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage>
  extends HandlerRequestBase<I, O> {
  /** True: a server-streaming, client-streaming or bidi call. */
  readonly stream: true;
  /** The requests, read from the client as they are consumed. */
  readonly message: AsyncIterable<MessageShape<I>>;
}

/** A call as handler interceptors see it: unary or streaming (see `stream`). */
export type HandlerRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> =
  | UnaryHandlerRequest<I, O>
  | StreamHandlerRequest<I, O>;

/**
 * What a handler answers, to handler interceptors. `header` and `trailer`
 * are the call's response headers and trailers (`context.responseHeaders`,
 * `context.responseTrailers`): add to them to send more.
 */
export interface UnaryHandlerResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends ResponseBase<I, O> {
  /** False: a unary call. */
  readonly stream: false;
  /** The response. */
  readonly message: MessageShape<O>;
}

/** A streaming handler's answer: the responses are sent as the runtime consumes `message`. */
export interface StreamHandlerResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage>
  extends ResponseBase<I, O> {
  /** True: a server-streaming, client-streaming or bidi call. */
  readonly stream: true;
  /** The responses. */
  readonly message: AsyncIterable<MessageShape<O>>;
}

/** What a handler answered, to handler interceptors: unary or streaming, like its request. */
export type HandlerResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> =
  | UnaryHandlerResponse<I, O>
  | StreamHandlerResponse<I, O>;

/** One step of serving a call: the next interceptor, or the handler itself. */
export type HandlerFn = (request: HandlerRequest) => Promise<HandlerResponse>;

/** Wraps typed handlers: `(next) => async (req) => next(req)`. */
export type HandlerInterceptor = (next: HandlerFn) => HandlerFn;

/** Chains interceptors around `last`: the first in the list runs first (outermost), as in connect-es. */
export function applyInterceptors<F>(interceptors: readonly ((next: F) => F)[], last: F): F {
  let next = last;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    next = interceptors[i]!(next);
  }
  return next;
}
