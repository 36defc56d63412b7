import { create, type DescMessage, type DescMethod, type DescService, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { grpcMethodDefinition, grpcServiceImplementation } from "@protoc-gen-tunnel/interop";
import type { ServiceImpl } from "@protoc-gen-tunnel/runtime";

// The control of the bulk-streaming workloads: direct grpc-js whose
// serializers are the runtime's (large bytes fields with one copy, as the
// tunnel's typed calls serialize them) instead of protobuf-es's toBinary,
// so "tunnel ÷ control" shows what tunneling itself costs.
//
// The runtime keeps that serializer internal (no public API, no subpath
// export), so the bench imports its built module next to the package's
// entry point, which the package resolves to (the bench always runs
// against the runtime built alongside it). A local interface types it.

interface BulkEncodingModule {
  encodeBulk<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Uint8Array | undefined;
}

const BULK_ENCODING = new URL("./protocol/bulk-encoding.js", import.meta.resolve("@protoc-gen-tunnel/runtime"));
const { encodeBulk } = (await import(BULK_ENCODING.href)) as BulkEncodingModule;

/** Where the control serves TestService: its usual method paths under this prefix. */
export const CONTROL_PATH_PREFIX = "/serializer-control";

/** Serializes a message (or its init shape) of `schema` as the runtime's typed calls do, for grpc-js. */
function runtimeSerializer<Desc extends DescMessage>(schema: Desc): (value: unknown) => Buffer {
  return (value) => {
    const message = create(schema, value as MessageShape<Desc>);
    const bytes = encodeBulk(schema, message) ?? toBinary(schema, message);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** The grpc-js definition of `method` for the control: the prefixed path and the runtime's serializers. */
export function controlMethodDefinition(method: DescMethod): grpc.MethodDefinition<unknown, unknown> {
  const plain = grpcMethodDefinition(method);
  return {
    ...plain,
    path: `${CONTROL_PATH_PREFIX}${plain.path}`,
    requestSerialize: runtimeSerializer(method.input),
    responseSerialize: runtimeSerializer(method.output),
  };
}

/** What to pass to `grpc.Server.addService` to serve `impl` as the control, next to the plain service. */
export function controlService<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
): [grpc.ServiceDefinition, grpc.UntypedServiceImplementation] {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = controlMethodDefinition(method);
  }
  return [definition, grpcServiceImplementation(service, impl)];
}
