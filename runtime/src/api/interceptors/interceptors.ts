import type { DescMessage, DescMethod, DescService, MessageShape } from "@bufbuild/protobuf";
import type { Metadata } from "@grpc/grpc-js";
import type { HandlerContext } from "../serve/index.js";

/*
 * One interceptor type for both sides, in the shape connect-es users know:
 * `(next) => async (req) => { ...; const res = await next(req); ...; return res; }`.
 * On the calling side interceptors go on a channel (`withInterceptors`) and
 * wrap typed calls; on the serving side they are the `interceptors` option
 * of a TunnelServiceHandler or ReverseTunnelServer and wrap typed handlers,
 * and their requests carry the handler's `context`.
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

interface RequestBase<I extends DescMessage, O extends DescMessage> {
  /** The method (its descriptor). */
  readonly method: MethodOf<I, O>;
  /** The method's service (`method.parent`). */
  readonly service: DescService;
  /** The request metadata; on the calling side interceptors may change it (e.g. add a token). */
  readonly header: Metadata;
  /** Calling side: aborting it cancels the call. Serving side: aborted when the client cancels, the deadline passes or the tunnel ends. */
  readonly signal: AbortSignal;
  /**
   * When the call must be done, in ms since the epoch, if ever: on the
   * calling side from `timeoutMs` / `deadline` (an interceptor may change
   * it), on the serving side from the caller's `grpc-timeout`.
   */
  readonly deadline: number | undefined;
  /**
   * Serving side only: everything the handler knows (tunnel metadata, peer,
   * response headers and trailers, ...). Absent on the calling side.
   */
  readonly context?: HandlerContext;
}

/** A unary call as interceptors see it. */
export interface UnaryRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends RequestBase<I, O> {
  /** False: a unary call. */
  readonly stream: false;
  /** The request. */
  readonly message: MessageShape<I>;
}

/** A streaming call (server, client or bidi) as interceptors see it. */
export interface StreamRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends RequestBase<I, O> {
  /** True: a server-streaming, client-streaming or bidi call. */
  readonly stream: true;
  /** The requests, consumed as they are sent or read (once: a stream cannot be replayed). */
  readonly message: AsyncIterable<MessageShape<I>>;
}

interface ResponseBase<I extends DescMessage, O extends DescMessage> {
  /** The method (its descriptor). */
  readonly method: MethodOf<I, O>;
  /** The method's service (`method.parent`). */
  readonly service: DescService;
  /** Response headers (on the serving side the call's own, `context.responseHeaders`: add to them to send more). */
  readonly header: Metadata;
  /** Response trailers: complete once the call has ended (for streams, once `message` is exhausted). */
  readonly trailer: Metadata;
}

/** The response of a unary call, as interceptors see it. */
export interface UnaryResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends ResponseBase<I, O> {
  /** False: a unary call. */
  readonly stream: false;
  /** The response. */
  readonly message: MessageShape<O>;
}

/**
 * The response of a streaming call, as interceptors see it: on the calling
 * side returned once its headers arrived, on the serving side sent as the
 * runtime consumes `message`.
 */
export interface StreamResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> extends ResponseBase<I, O> {
  /** True: a server-streaming, client-streaming or bidi call. */
  readonly stream: true;
  /** The responses; on the calling side leaving early cancels the call, and a failed call throws its TunnelError. */
  readonly message: AsyncIterable<MessageShape<O>>;
}

/**
 * One step of a call: the next interceptor, or the call (or the handler)
 * itself. Written as a method's type, whose parameter TypeScript compares
 * both ways, so that an interceptor written for the serving side alone
 * (requests with `context` always set, as the deprecated
 * `HandlerInterceptor`) is still accepted where an `Interceptor` is.
 */
export type InterceptorFn = {
  /** Runs the rest of the call with `request`; settles with its response or its error. */
  step(request: UnaryRequest | StreamRequest): Promise<UnaryResponse | StreamResponse>;
}["step"];

/**
 * Wraps typed calls and typed handlers, `(next) => async (req) => next(req)`:
 * the same interceptor works with `withInterceptors` (calling side) and in
 * the `interceptors` option of a handler (serving side, where `req.context`
 * is set).
 */
export type Interceptor = (next: InterceptorFn) => InterceptorFn;

/** A request of either kind (for this package's code; users write the union). */
export type AnyRequest = UnaryRequest | StreamRequest;

/** A response of either kind (for this package's code). */
export type AnyResponse = UnaryResponse | StreamResponse;

/** Chains interceptors around `last`: the first in the list runs first (outermost), as in connect-es. */
export function applyInterceptors<F>(interceptors: readonly ((next: F) => F)[], last: F): F {
  let next = last;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    next = interceptors[i]!(next);
  }
  return next;
}
