import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type DescService, type MessageShape } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { methodPath } from "@protoc-gen-tunnel/runtime/protocol";

// Plain grpc-js (no tunnel) for protobuf-es services: the same service
// implementations and the same call API as over a tunnel, so tests and
// benchmarks can compare the transports with identical expectations.

/** Serializes a message (or its init shape) of `schema` for grpc-js, without copying. */
export function serializer<Desc extends DescMessage>(schema: Desc): (value: unknown) => Buffer {
  return (value) => {
    const bytes = toBinary(schema, create(schema, value as MessageShape<Desc>));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** Parses a message of `schema` from grpc-js bytes (a view, no copy, as the tunnel does). */
export function deserializer<Desc extends DescMessage>(schema: Desc): (bytes: Buffer) => MessageShape<Desc> {
  return (bytes) => fromBinary(schema, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/** The grpc-js definition of one method. */
export function grpcMethodDefinition(method: DescMethod): grpc.MethodDefinition<unknown, unknown> {
  const kind = method.methodKind;
  return {
    path: methodPath(method),
    requestStream: kind === "client_streaming" || kind === "bidi_streaming",
    responseStream: kind === "server_streaming" || kind === "bidi_streaming",
    requestSerialize: serializer(method.input),
    requestDeserialize: deserializer(method.input),
    responseSerialize: serializer(method.output),
    responseDeserialize: deserializer(method.output),
    originalName: method.name,
  };
}

/**
 * The grpc-js `ServiceDefinition` of a protobuf-es service, keyed by each
 * method's local name (as `ServiceImpl` is). Works for services without a
 * proto package too (path "/Service/Method").
 */
export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = grpcMethodDefinition(method);
  }
  return definition;
}

const sameBytes = (bytes: Buffer): Buffer => bytes;

/**
 * A grpc-js method definition over raw bytes (messages are passed through
 * as they are), for services that have no schema, e.g. handlers written to
 * misbehave in tests.
 */
export function bytesMethodDefinition(
  path: string,
  requestStream: boolean,
  responseStream: boolean,
): grpc.MethodDefinition<Buffer, Buffer> {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: sameBytes,
    requestDeserialize: sameBytes,
    responseSerialize: sameBytes,
    responseDeserialize: sameBytes,
  };
}
