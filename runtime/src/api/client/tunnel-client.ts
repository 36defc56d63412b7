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
import type { CallChannel } from "./call-channel.js";
import type { CallOptions } from "./call-options.js";
import type { TunnelClientOptions } from "./client-options.js";
import { clientChannel } from "./configured-channel.js";
import { bidiStreamCall, clientStreamCall, serverStreamCall, unaryCall } from "./typed-calls.js";

/** The client function of one method, by its kind. */
export type TunnelClientMethod<M extends DescMethod> =
  M extends DescMethodUnary<infer I, infer O>
    ? (request: MessageInitShape<I>, options?: CallOptions) => Promise<MessageShape<O>>
    : M extends DescMethodServerStreaming<infer I, infer O>
      ? (request: MessageInitShape<I>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
      : M extends DescMethodClientStreaming<infer I, infer O>
        ? (requests: AsyncIterable<MessageInitShape<I>>, options?: CallOptions) => Promise<MessageShape<O>>
        : M extends DescMethodBiDiStreaming<infer I, infer O>
          ? (requests: AsyncIterable<MessageInitShape<I>>, options?: CallOptions) => AsyncIterable<MessageShape<O>>
          : never;

/** A client of `S`: one function per method, keyed by the method's local name. */
export type TunnelClient<S extends DescService> = {
  [K in keyof S["method"]]: TunnelClientMethod<S["method"][K]>;
};

/**
 * A client of `service` whose calls go over `channel` (a tunnel, a
 * round-robin reverse channel, ...), for code without generated stubs:
 *
 * ```ts
 * const foo = createTunnelClient(FooService, tunnel);
 * const res = await foo.bar({ name: "x" }, { timeoutMs: 500 });
 * ```
 *
 * `options` are the client's: interceptors, default call options, retries
 * (see TunnelClientOptions).
 */
export function createTunnelClient<S extends DescService>(
  service: S,
  channel: CallChannel,
  options?: TunnelClientOptions,
): TunnelClient<S> {
  channel = clientChannel(channel, options);
  const client: Record<string, unknown> = {};
  for (const method of service.methods) {
    client[method.localName] = methodFunction(channel, method);
  }
  return client as TunnelClient<S>;
}

type Request = MessageInitShape<DescMessage>;

// DescMethod is not a union by kind: the casts state what `methodKind` said.
function methodFunction(channel: CallChannel, method: DescMethod): unknown {
  switch (method.methodKind) {
    case "unary":
      return (request: Request, options?: CallOptions) => unaryCall(channel, method as DescMethodUnary, request, options);
    case "server_streaming":
      return (request: Request, options?: CallOptions) => serverStreamCall(channel, method as DescMethodServerStreaming, request, options);
    case "client_streaming":
      return (requests: AsyncIterable<Request>, options?: CallOptions) =>
        clientStreamCall(channel, method as DescMethodClientStreaming, requests, options);
    case "bidi_streaming":
      return (requests: AsyncIterable<Request>, options?: CallOptions) =>
        bidiStreamCall(channel, method as DescMethodBiDiStreaming, requests, options);
  }
}
