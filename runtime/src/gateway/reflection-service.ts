import { toBinary, type DescExtension, type DescFile, type DescMessage, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ServiceRegistrar } from "../api/serve/index.js";
import { Code } from "../code.js";
import { ServerReflection as ReflectionV1, type ServerReflectionRequest } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { ServerReflection as ReflectionV1alpha } from "../gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * Serves gRPC server reflection (grpc.reflection.v1 and v1alpha) on an
 * agent, over its tunnels, for the services and files in `schemas`
 * (protobuf-es descriptors: generated `FooService` objects or `file_…`
 * files, whose imports come along). Through a tunnel gateway this lets
 * `grpcurl -H 'tunnel-key: camera-3' gateway:port list` and `describe`
 * show the agent's services, and lets the gateway (and other generic
 * clients) call it with JSON.
 *
 * ```ts
 * const agent = new ReverseTunnelServer(client);
 * agent.registerService(CameraService, impl);
 * serveReflection(agent, [CameraService]);
 * ```
 */
export function serveReflection(registrar: ServiceRegistrar, schemas: readonly (DescService | DescFile)[]): void {
  const index = new SymbolIndex(schemas);
  const impl = {
    async *serverReflectionInfo(requests: AsyncIterable<Pick<ServerReflectionRequest, "host" | "messageRequest">>) {
      for await (const request of requests) {
        yield { validHost: request.host, originalRequest: request, messageResponse: index.answer(request.messageRequest) };
      }
    },
  };
  registrar.registerService(ReflectionV1, impl);
  // Same messages on the wire; grpcurl and older clients still ask v1alpha.
  registrar.registerService(ReflectionV1alpha, impl as never);
}

type Answer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Every file, symbol and extension reachable from the schemas, by name. */
export class SymbolIndex {
  private readonly services: string[] = [ReflectionV1.typeName, ReflectionV1alpha.typeName];
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  private readonly extensions: DescExtension[] = [];

  constructor(schemas: readonly (DescService | DescFile)[]) {
    for (const schema of schemas) {
      if (schema.kind === "service") {
        this.services.push(schema.typeName);
        this.addFile(schema.file);
      } else {
        this.services.push(...schema.services.map((s) => s.typeName));
        this.addFile(schema);
      }
    }
  }

  answer(request: ServerReflectionRequest["messageRequest"]): Answer {
    switch (request.case) {
      case "listServices":
        return { case: "listServicesResponse", value: { service: [...new Set(this.services)].map((name) => ({ name })) } };
      case "fileByFilename":
        return this.fileAnswer(this.files.get(request.value), `file ${request.value}`);
      case "fileContainingSymbol":
        return this.fileAnswer(this.fileOfSymbol(request.value), `symbol ${request.value}`);
      case "fileContainingExtension": {
        const { containingType, extensionNumber } = request.value;
        const found = this.extensions.find((e) => e.extendee.typeName === containingType && e.number === extensionNumber);
        return this.fileAnswer(found?.file, `extension ${extensionNumber} of ${containingType}`);
      }
      case "allExtensionNumbersOfType": {
        if (!this.symbols.has(request.value)) {
          return notFound(`type ${request.value}`);
        }
        const numbers = this.extensions.filter((e) => e.extendee.typeName === request.value).map((e) => e.number);
        return { case: "allExtensionNumbersResponse", value: { baseTypeName: request.value, extensionNumber: numbers } };
      }
      default:
        return { case: "errorResponse", value: { errorCode: Code.INVALID_ARGUMENT, errorMessage: "empty reflection request" } };
    }
  }

  /** The file declaring a type, service, method, field or enum value, by its full name. */
  private fileOfSymbol(name: string): DescFile | undefined {
    const exact = this.symbols.get(name);
    if (exact !== undefined) {
      return exact;
    }
    const parent = name.slice(0, Math.max(0, name.lastIndexOf("."))); // "pkg.Service.Method" → "pkg.Service"
    return this.symbols.get(parent);
  }

  /** The file and every file it imports, transitively, serialized. */
  private fileAnswer(file: DescFile | undefined, what: string): Answer {
    if (file === undefined) {
      return notFound(what);
    }
    const seen = new Set<DescFile>();
    const visit = (f: DescFile) => {
      if (!seen.has(f)) {
        seen.add(f);
        for (const dependency of f.dependencies) {
          visit(dependency);
        }
      }
    };
    visit(file);
    const fileDescriptorProto = [...seen].map((f) => toBinary(FileDescriptorProtoSchema, f.proto));
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto } };
  }

  private addFile(file: DescFile): void {
    if (this.files.has(file.proto.name)) {
      return;
    }
    this.files.set(file.proto.name, file);
    const addMessage = (message: DescMessage) => {
      this.symbols.set(message.typeName, file);
      for (const nested of message.nestedMessages) {
        addMessage(nested);
      }
      for (const nested of message.nestedEnums) {
        this.symbols.set(nested.typeName, file);
      }
      this.extensions.push(...message.nestedExtensions);
    };
    for (const message of file.messages) {
      addMessage(message);
    }
    for (const desc of [...file.enums, ...file.services]) {
      this.symbols.set(desc.typeName, file);
    }
    for (const extension of file.extensions) {
      this.symbols.set(extension.typeName, file);
      this.extensions.push(extension);
    }
    for (const dependency of file.dependencies) {
      this.addFile(dependency);
    }
  }
}

function notFound(what: string): Answer {
  return { case: "errorResponse", value: { errorCode: Code.NOT_FOUND, errorMessage: `${what} not found` } };
}
