import { once } from "node:events";
import type { DescMessage, DescMethod, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { grpcMethodDefinition, type TypedCallChannel } from "@protoc-gen-tunnel/interop";
import type {
  BidiStreamingMethod,
  CallOptions,
  ClientStreamingMethod,
  ServerStreamingMethod,
  UnaryMethod,
} from "@protoc-gen-tunnel/runtime";

// The "direct grpc-js" side of every comparison: plain grpc-js calls with
// the protobuf-es serializers of the interop adapters, and nothing else. The
// interop DirectChannel also mirrors the tunnel's call semantics (trailer
// callbacks, abort tracking, error mapping) at a cost per call that plain
// grpc-js users do not pay, so it would flatter the tunnel here.

type Definition = grpc.MethodDefinition<unknown, unknown>;
const definitions = new WeakMap<DescMethod, Definition>();

function definitionOf(method: DescMethod): Definition {
  let definition = definitions.get(method);
  if (definition === undefined) {
    definition = grpcMethodDefinition(method);
    definitions.set(method, definition);
  }
  return definition;
}

/** Typed calls on a plain grpc-js client; only `signal` of CallOptions is used. */
export class PlainGrpcChannel implements TypedCallChannel {
  constructor(readonly client: grpc.Client) {}

  unary<I extends DescMessage, O extends DescMessage>(
    method: UnaryMethod<I, O>,
    request: MessageInitShape<I>,
  ): Promise<MessageShape<O>> {
    const def = definitionOf(method);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, (error, value) =>
        error ? reject(error) : resolve(value as MessageShape<O>),
      );
    });
  }

  async *serverStream<I extends DescMessage, O extends DescMessage>(
    method: ServerStreamingMethod<I, O>,
    request: MessageInitShape<I>,
    options: CallOptions = {},
  ): AsyncGenerator<MessageShape<O>> {
    const def = definitionOf(method);
    const call = this.client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, request);
    yield* responses<MessageShape<O>>(call, options.signal);
  }

  clientStream<I extends DescMessage, O extends DescMessage>(
    method: ClientStreamingMethod<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
  ): Promise<MessageShape<O>> {
    const def = definitionOf(method);
    return new Promise((resolve, reject) => {
      const call = this.client.makeClientStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, (error, value) =>
        error ? reject(error) : resolve(value as MessageShape<O>),
      );
      void pump(call, requests);
    });
  }

  async *bidiStream<I extends DescMessage, O extends DescMessage>(
    method: BidiStreamingMethod<I, O>,
    requests: AsyncIterable<MessageInitShape<I>>,
    options: CallOptions = {},
  ): AsyncGenerator<MessageShape<O>> {
    const def = definitionOf(method);
    const call = this.client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize);
    void pump(call, requests);
    yield* responses<MessageShape<O>>(call, options.signal);
  }
}

/** Writes every request (waiting for 'drain' when grpc-js buffers), then half-closes. */
async function pump(call: grpc.ClientWritableStream<unknown>, requests: AsyncIterable<unknown>): Promise<void> {
  try {
    for await (const request of requests) {
      if (!call.write(request)) {
        await once(call, "drain");
      }
    }
    call.end();
  } catch {
    call.cancel();
  }
}

/** The responses of a streaming call; stopping early or aborting cancels it. */
async function* responses<T>(call: grpc.ClientReadableStream<unknown>, signal: AbortSignal | undefined): AsyncGenerator<T> {
  const cancel = () => call.cancel();
  // grpc-js emits 'error' for every non-OK status, also after the iterator
  // let go of the stream (e.g. CANCELLED when the caller stopped early).
  call.on("error", () => {});
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    for await (const message of call) {
      yield message as T;
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    call.cancel();
  }
}
