import type {
  DescMessage,
  DescMethod,
  DescMethodBiDiStreaming,
  DescMethodClientStreaming,
  DescMethodServerStreaming,
  DescMethodUnary,
  DescService,
  MessageInitShape,
  MessageShape,
} from "@bufbuild/protobuf";
import type { HandlerContext } from "./handler-context.js";

/** Handles a unary call: one request, one response. */
export type UnaryImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: HandlerContext,
) => Promise<MessageInitShape<O>> | MessageInitShape<O>;

/** Handles a server-streaming call: one request, responses as an async iterable (e.g. an async generator). */
export type ServerStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  request: MessageShape<I>,
  context: HandlerContext,
) => AsyncIterable<MessageInitShape<O>>;

/** Handles a client-streaming call: requests as an async iterable, one response. */
export type ClientStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  context: HandlerContext,
) => Promise<MessageInitShape<O>>;

/** Handles a bidi-streaming call: requests and responses as async iterables. */
export type BidiStreamingImpl<I extends DescMessage, O extends DescMessage> = (
  requests: AsyncIterable<MessageShape<I>>,
  context: HandlerContext,
) => AsyncIterable<MessageInitShape<O>>;

/** The implementation type of one method, by its kind. */
export type MethodImpl<M extends DescMethod> =
  M extends DescMethodUnary<infer I, infer O>
    ? UnaryImpl<I, O>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? ServerStreamingImpl<I, O>
      : M extends DescMethodClientStreaming<infer I, infer O>
        ? ClientStreamingImpl<I, O>
        : M extends DescMethodBiDiStreaming<infer I, infer O>
          ? BidiStreamingImpl<I, O>
          : never;

/** An implementation of every method of a service, keyed by local name. */
export type ServiceImpl<S extends DescService> = {
  [K in keyof S["method"]]: MethodImpl<S["method"][K]>;
};

/**
 * Where service implementations are registered: a TunnelServiceHandler
 * (forward tunnels) or a ReverseTunnelServer (reverse tunnels). Methods left
 * out answer UNIMPLEMENTED.
 */
export interface ServiceRegistrar {
  /** Serves the implemented methods of `service`; a service can be registered once. */
  registerService<S extends DescService>(service: S, impl: Partial<ServiceImpl<S>>): void;
}
