import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import {
  Code,
  TunnelError,
  toMetadata,
  type BidiStreamingMethod,
  type CallOptions,
  type ClientStreamingMethod,
  type ServerStreamingMethod,
  type UnaryMethod,
} from "@protoc-gen-tunnel/runtime";
import { deserializer, methodPath, serializer, type TypedCallChannel } from "./grpc-direct.js";
import { errorFromStatus, visibleTrailers } from "./status-details.js";
import { readMessages, writeMessage } from "./stream-io.js";

type AnyClientCall =
  | grpc.ClientUnaryCall
  | grpc.ClientReadableStream<unknown>
  | grpc.ClientWritableStream<unknown>
  | grpc.ClientDuplexStream<unknown, unknown>;

/**
 * Plain grpc-js calls with the tunnel's call API and semantics: the same
 * CallOptions (metadata, timeout/deadline, signal, onHeader, onTrailer), the
 * same TunnelError on failure (details from `grpc-status-details-bin`), so a
 * caller cannot tell it from a TunnelChannel except by the transport.
 */
export class DirectChannel implements TypedCallChannel {
  constructor(readonly client: grpc.Client) {}

  /** A channel to `address` (e.g. "127.0.0.1:26354"), insecure by default. */
  static connect(
    address: string,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    options?: grpc.ClientOptions,
  ): DirectChannel {
    return new DirectChannel(new grpc.Client(address, credentials, options));
  }

  close(): void {
    this.client.close();
  }

  unary<I extends DescMessage, O extends DescMessage>(
    method: UnaryMethod<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): Promise<MessageShape<O>> {
    let response: MessageShape<O> | undefined;
    const call = this.client.makeUnaryRequest(
      methodPath(method),
      serializer(method.input),
      deserializer(method.output),
      create(method.input, request),
      toMetadata(options.metadata),
      grpcCallOptions(options),
      (_error, value) => (response = value),
    );
    return new CallTracker(call, options).result(() => response);
  }

  async *serverStream<I extends DescMessage, O extends DescMessage>(
    method: ServerStreamingMethod<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): AsyncGenerator<MessageShape<O>> {
    const call = this.client.makeServerStreamRequest(
      methodPath(method),
      serializer(method.input),
      deserializer(method.output),
      create(method.input, request),
      toMetadata(options.metadata),
      grpcCallOptions(options),
    );
    yield* new CallTracker(call, options).responses<MessageShape<O>>(call);
  }

  clientStream<I extends DescMessage, O extends DescMessage>(
    method: ClientStreamingMethod<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options: CallOptions = {},
  ): Promise<MessageShape<O>> {
    let response: MessageShape<O> | undefined;
    const call = this.client.makeClientStreamRequest(
      methodPath(method),
      serializer(method.input),
      deserializer(method.output),
      toMetadata(options.metadata),
      grpcCallOptions(options),
      (_error, value) => (response = value),
    );
    const tracker = new CallTracker(call, options);
    void tracker.pump(call, method.input, requests);
    return tracker.result(() => response);
  }

  async *bidiStream<I extends DescMessage, O extends DescMessage>(
    method: BidiStreamingMethod<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options: CallOptions = {},
  ): AsyncGenerator<MessageShape<O>> {
    const call = this.client.makeBidiStreamRequest(
      methodPath(method),
      serializer(method.input),
      deserializer(method.output),
      toMetadata(options.metadata),
      grpcCallOptions(options),
    );
    const tracker = new CallTracker(call, options);
    void tracker.pump(call, method.input, requests);
    yield* tracker.responses<MessageShape<O>>(call);
  }
}

function grpcCallOptions(options: CallOptions): grpc.CallOptions {
  const candidates: number[] = [];
  if (options.timeoutMs !== undefined) {
    candidates.push(Date.now() + options.timeoutMs);
  }
  if (options.deadline !== undefined) {
    candidates.push(options.deadline instanceof Date ? options.deadline.getTime() : options.deadline);
  }
  return candidates.length === 0 ? {} : { deadline: Math.min(...candidates) };
}

/**
 * Follows one grpc-js call: delivers headers (always, empty when the server
 * sent none, as a tunnel does) and trailers to the CallOptions callbacks,
 * cancels on abort, and turns the final status into the call's outcome.
 */
class CallTracker {
  /** Resolves with the final status, after onTrailer ran. */
  readonly status: Promise<grpc.StatusObject>;
  /** Aborted once the call has ended, however it ended. */
  private readonly ended = new AbortController();
  private abortError: TunnelError | undefined;
  private headersDelivered = false;

  constructor(
    private readonly call: AnyClientCall,
    private readonly options: CallOptions,
  ) {
    const signal = options.signal;
    const onAbort = () => {
      this.abortError = TunnelError.from(signal?.reason, Code.CANCELLED);
      call.cancel();
    };
    (call as EventEmitter).on("error", () => {}); // streams emit it too; the status carries the same
    call.on("metadata", (headers: grpc.Metadata) => this.deliverHeaders(headers));
    this.status = new Promise((resolve) => {
      call.on("status", (status: grpc.StatusObject) => {
        signal?.removeEventListener("abort", onAbort);
        this.deliverHeaders(new grpc.Metadata());
        this.options.onTrailer?.(visibleTrailers(status.metadata));
        this.ended.abort(this.outcome(status) ?? new TunnelError(Code.INTERNAL, "call already completed"));
        resolve(status);
      });
    });
    if (signal?.aborted) {
      onAbort();
    } else {
      signal?.addEventListener("abort", onAbort, { once: true });
    }
  }

  /** The single response of a unary or client-streaming call, settled after the status. */
  async result<T>(response: () => T | undefined): Promise<T> {
    const status = await this.status;
    const error = this.outcome(status);
    if (error !== undefined) {
      throw error;
    }
    const value = response();
    if (value === undefined) {
      throw new TunnelError(Code.INTERNAL, "server ended the call without sending a response");
    }
    return value;
  }

  /** The responses of a streaming call; throws the call's error at the end. */
  async *responses<T>(stream: grpc.ClientReadableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>): AsyncGenerator<T> {
    try {
      // Responses that arrived before an error are still delivered, as over a tunnel.
      yield* readMessages<T>(stream);
      const error = this.outcome(await this.status);
      if (error !== undefined) {
        throw error;
      }
    } finally {
      // The consumer stopped early: the call is no longer wanted.
      this.call.cancel();
      await this.status;
    }
  }

  /** Sends every request, then half-closes; a failing request iterable cancels the call. */
  async pump<I extends DescMessage>(
    stream: grpc.ClientWritableStream<unknown> | grpc.ClientDuplexStream<unknown, unknown>,
    schema: I,
    requests: AsyncIterable<MessageInitShape<I>>,
  ): Promise<void> {
    try {
      for await (const request of requests) {
        if (this.ended.signal.aborted) {
          return; // leaving the loop closes the request iterator
        }
        await writeMessage(stream, create(schema, request), this.ended.signal);
      }
      stream.end();
    } catch (e) {
      // As over a tunnel: the call fails with what went wrong, not a bare CANCELLED.
      this.abortError ??= TunnelError.from(e);
      this.call.cancel();
    }
  }

  private outcome(status: grpc.StatusObject): TunnelError | undefined {
    if (status.code === Code.OK) {
      return undefined;
    }
    if (status.code === Code.CANCELLED && this.abortError !== undefined) {
      return this.abortError;
    }
    return errorFromStatus(status);
  }

  private deliverHeaders(headers: grpc.Metadata): void {
    if (!this.headersDelivered) {
      this.headersDelivered = true;
      this.options.onHeader?.(headers);
    }
  }
}
