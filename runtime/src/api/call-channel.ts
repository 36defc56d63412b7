import type { DescMessage, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { ClientStream } from "../engine/client-stream.js";
import type { CallOptions } from "./call-options.js";
import { bidiStreamCall, clientStreamCall, serverStreamCall, unaryCall } from "./client-calls.js";
import type { BidiStreamingMethod, ClientStreamingMethod, ServerStreamingMethod, UnaryMethod } from "./method-types.js";

/**
 * Anything tunneled calls can be made on: one tunnel (forward or reverse),
 * or a round-robin pool of reverse tunnels. Generated `*TunnelClient`
 * classes take one of these.
 */
export interface CallChannel {
  unary<I extends DescMessage, O extends DescMessage>(
    method: UnaryMethod<I, O>,
    request: MessageInitShape<I>,
    options?: CallOptions,
  ): Promise<MessageShape<O>>;
  serverStream<I extends DescMessage, O extends DescMessage>(
    method: ServerStreamingMethod<I, O>,
    request: MessageInitShape<I>,
    options?: CallOptions,
  ): AsyncIterable<MessageShape<O>>;
  clientStream<I extends DescMessage, O extends DescMessage>(
    method: ClientStreamingMethod<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options?: CallOptions,
  ): Promise<MessageShape<O>>;
  bidiStream<I extends DescMessage, O extends DescMessage>(
    method: BidiStreamingMethod<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options?: CallOptions,
  ): AsyncIterable<MessageShape<O>>;
  /**
   * Starts a call in serialized bytes on the tunnel this channel picks.
   * The typed methods are built on it; proxies and adapters can use it too.
   */
  startStream(method: string, options?: CallOptions): ClientStream;
}

/** Implements the typed calls of CallChannel over `startStream`. */
export abstract class AbstractCallChannel implements CallChannel {
  abstract startStream(method: string, options?: CallOptions): ClientStream;

  unary<I extends DescMessage, O extends DescMessage>(
    method: UnaryMethod<I, O>,
    request: MessageInitShape<I>,
    options?: CallOptions,
  ): Promise<MessageShape<O>> {
    return unaryCall(this, method, request, options);
  }

  serverStream<I extends DescMessage, O extends DescMessage>(
    method: ServerStreamingMethod<I, O>,
    request: MessageInitShape<I>,
    options?: CallOptions,
  ): AsyncIterable<MessageShape<O>> {
    return serverStreamCall(this, method, request, options);
  }

  clientStream<I extends DescMessage, O extends DescMessage>(
    method: ClientStreamingMethod<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options?: CallOptions,
  ): Promise<MessageShape<O>> {
    return clientStreamCall(this, method, requests, options);
  }

  bidiStream<I extends DescMessage, O extends DescMessage>(
    method: BidiStreamingMethod<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options?: CallOptions,
  ): AsyncIterable<MessageShape<O>> {
    return bidiStreamCall(this, method, requests, options);
  }
}
