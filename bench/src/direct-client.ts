import { once } from "node:events";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { grpcMethodDefinition, type TestService } from "@protoc-gen-tunnel/interop";
import type { CallOptions, TunnelClient } from "@protoc-gen-tunnel/runtime";

/** What every workload calls: TestService, over a tunnel or over plain grpc-js. */
export type BenchClient = TunnelClient<typeof TestService>;

// The "direct grpc-js" side of every comparison: plain grpc-js calls with
// the protobuf-es serializers of the interop adapters, and nothing else,
// shaped like the runtime's `createTunnelClient` so the workloads call every
// variant the same way. The interop DirectChannel runs the runtime's typed
// calls on grpc-js instead, with the tunnel's call semantics (trailer
// callbacks, abort tracking, error mapping) at a cost per call that plain
// grpc-js users do not pay, so it would flatter the tunnel here.

/** How a plain client calls a method: its path and (de)serializers. */
export type MethodDefinitionOf = (method: DescMethod) => grpc.MethodDefinition<unknown, unknown>;

/**
 * A client of `service` on a plain grpc-js client (by default with the
 * interop adapters' definitions); only `signal` of CallOptions is used
 * (streaming calls).
 */
export function plainGrpcClient<S extends DescService>(
  service: S,
  client: grpc.Client,
  definitionOf: MethodDefinitionOf = grpcMethodDefinition,
): TunnelClient<S> {
  const methods: Record<string, unknown> = {};
  for (const method of service.methods) {
    methods[method.localName] = plainCall(client, method, definitionOf(method));
  }
  return methods as TunnelClient<S>;
}

function plainCall(client: grpc.Client, method: DescMethod, def: grpc.MethodDefinition<unknown, unknown>): unknown {
  switch (method.methodKind) {
    case "unary":
      return (request: unknown) =>
        new Promise((resolve, reject) => {
          client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, (error, value) =>
            error ? reject(error) : resolve(value),
          );
        });
    case "server_streaming":
      return (request: unknown, options: CallOptions = {}) =>
        responses(client.makeServerStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, request), options.signal);
    case "client_streaming":
      return (requests: AsyncIterable<unknown>) =>
        new Promise((resolve, reject) => {
          const call = client.makeClientStreamRequest(def.path, def.requestSerialize, def.responseDeserialize, (error, value) =>
            error ? reject(error) : resolve(value),
          );
          void pump(call, requests);
        });
    case "bidi_streaming":
      return (requests: AsyncIterable<unknown>, options: CallOptions = {}) => {
        const call = client.makeBidiStreamRequest(def.path, def.requestSerialize, def.responseDeserialize);
        void pump(call, requests);
        return responses(call, options.signal);
      };
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
async function* responses(call: grpc.ClientReadableStream<unknown>, signal: AbortSignal | undefined): AsyncGenerator<unknown> {
  const cancel = () => call.cancel();
  // grpc-js emits 'error' for every non-OK status, also after the iterator
  // let go of the stream (e.g. CANCELLED when the caller stopped early).
  call.on("error", () => {});
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    for await (const message of call) {
      yield message;
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    call.cancel();
  }
}
