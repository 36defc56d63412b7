import type { DescMessage } from "@bufbuild/protobuf";
import type { HandlerContext } from "../serve/index.js";
import type { Interceptor, InterceptorFn, StreamRequest, StreamResponse, UnaryRequest, UnaryResponse } from "./interceptors.js";

/*
 * The names of the two interceptor families this runtime had before the one
 * `Interceptor` (CHANGELOG.md). Client-side names are the new types; the
 * handler-side requests keep their `context` required, so code written
 * against them still compiles.
 */

/** @deprecated Use `Interceptor`: the same type. */
export type CallInterceptor = Interceptor;
/** @deprecated Use `InterceptorFn`. */
export type CallFn = InterceptorFn;
/** @deprecated Use `UnaryRequest | StreamRequest`. */
export type CallRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> =
  | UnaryRequest<I, O>
  | StreamRequest<I, O>;
/** @deprecated Use `UnaryRequest`. */
export type UnaryCallRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = UnaryRequest<I, O>;
/** @deprecated Use `StreamRequest`. */
export type StreamCallRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = StreamRequest<I, O>;
/** @deprecated Use `UnaryResponse | StreamResponse`. */
export type CallResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> =
  | UnaryResponse<I, O>
  | StreamResponse<I, O>;
/** @deprecated Use `UnaryResponse`. */
export type UnaryCallResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = UnaryResponse<I, O>;
/** @deprecated Use `StreamResponse`. */
export type StreamCallResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = StreamResponse<I, O>;

/** @deprecated Use `UnaryRequest` (on the serving side its `context` is set). */
export type UnaryHandlerRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = UnaryRequest<I, O> & {
  /** Everything the handler knows. */
  readonly context: HandlerContext;
};
/** @deprecated Use `StreamRequest` (on the serving side its `context` is set). */
export type StreamHandlerRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = StreamRequest<I, O> & {
  /** Everything the handler knows. */
  readonly context: HandlerContext;
};
/** @deprecated Use `UnaryRequest | StreamRequest` (on the serving side `context` is set). */
export type HandlerRequest<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> =
  | UnaryHandlerRequest<I, O>
  | StreamHandlerRequest<I, O>;
/** @deprecated Use `UnaryResponse`. */
export type UnaryHandlerResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = UnaryResponse<I, O>;
/** @deprecated Use `StreamResponse`. */
export type StreamHandlerResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> = StreamResponse<I, O>;
/** @deprecated Use `UnaryResponse | StreamResponse`. */
export type HandlerResponse<I extends DescMessage = DescMessage, O extends DescMessage = DescMessage> =
  | UnaryResponse<I, O>
  | StreamResponse<I, O>;
/** @deprecated Use `InterceptorFn`. */
export type HandlerFn = (request: HandlerRequest) => Promise<HandlerResponse>;

/**
 * @deprecated Use `Interceptor`, which handlers take too (values of this
 * type are accepted where an `Interceptor` is).
 */
export type HandlerInterceptor = (next: HandlerFn) => HandlerFn;
