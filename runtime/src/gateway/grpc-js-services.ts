import type { DescService } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { grpcStatusFromError } from "../api/grpc-services/index.js";
import type { FrontDoorCall } from "./front-door.js";
import type { GatewayCore } from "./gateway-core.js";
import { Health } from "../gen/grpc/health/v1/health_pb.js";
import { writeWithBackPressure } from "./write-gate.js";

/** A service whose methods the grpc-js front door passes through: a protobuf-es descriptor or a grpc-js definition. */
export type PassThroughService = DescService | grpc.ServiceDefinition;

/** A service definition and implementation, as `grpc.Server.addService` takes them. */
export type GrpcServiceEntry = [grpc.ServiceDefinition, grpc.UntypedServiceImplementation];

const identity = (bytes: Buffer): Buffer => bytes;

/**
 * Pass-through handlers for a grpc-js server, one per method of the given
 * services (grpc-js dispatches by exact method path and has no catch-all),
 * plus grpc.health.v1. Each method is served as a bidi stream of bytes
 * (identity serializers), whatever its kind: the agent's handler enforces
 * its own cardinality, so nothing is decoded here.
 */
export function grpcJsServices(core: GatewayCore, services: readonly PassThroughService[], health: boolean): GrpcServiceEntry[] {
  const all = health ? [...services, Health] : services;
  const seen = new Set<string>();
  return all.map((service) => {
    const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [name, path] of methodPaths(service)) {
      if (seen.has(path)) {
        throw new Error(`grpcJsServices: method ${path} is given twice`);
      }
      seen.add(path);
      definition[name] = {
        path,
        requestStream: true,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
        originalName: name,
      };
      implementation[name] = ((call: grpc.ServerDuplexStream<Buffer, Buffer>) =>
        core.serve(new GrpcJsCall(call))) as grpc.handleBidiStreamingCall<Buffer, Buffer>;
    }
    return [definition, implementation];
  });
}

/** [local name, "/pkg.Service/Method"] of each method. */
function methodPaths(service: PassThroughService): [string, string][] {
  if (isDescService(service)) {
    return service.methods.map((m) => [m.localName, `/${service.typeName}/${m.name}`]);
  }
  return Object.entries(service).map(([name, method]) => [name, method.path]);
}

function isDescService(service: PassThroughService): service is DescService {
  return (service as { kind?: unknown }).kind === "service" && typeof (service as { typeName?: unknown }).typeName === "string";
}

class GrpcJsCall implements FrontDoorCall {
  readonly info: FrontDoorCall["info"];
  readonly deadline: number | undefined;
  readonly json = false;
  private readonly aborted = new AbortController();
  private ended = false;
  private inputEnded = false;

  constructor(private readonly call: grpc.ServerDuplexStream<Buffer, Buffer>) {
    this.info = {
      method: call.getPath(),
      metadata: call.metadata,
      protocol: "grpc",
      peer: call.getPeer(),
      authContext: call.getAuthContext(),
    };
    const deadline = call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() : deadline;
    this.deadline = Number.isFinite(ms) ? ms : undefined;
    call.on("end", () => (this.inputEnded = true));
    call.on("cancelled", () => this.aborted.abort(new TunnelError(Code.CANCELLED, "the caller cancelled the call")));
  }

  get signal(): AbortSignal {
    return this.aborted.signal;
  }

  async read(): Promise<Uint8Array | undefined> {
    for (;;) {
      const message = this.call.read() as Buffer | null;
      if (message !== null) {
        return message;
      }
      if (this.inputEnded) {
        return undefined;
      }
      if (this.aborted.signal.aborted) {
        throw this.aborted.signal.reason;
      }
      await new Promise<void>((resolve) => {
        const done = () => {
          this.call.off("readable", done);
          this.call.off("end", done);
          this.aborted.signal.removeEventListener("abort", done);
          resolve();
        };
        this.call.on("readable", done);
        this.call.on("end", done);
        this.aborted.signal.addEventListener("abort", done);
      });
    }
  }

  sendHeaders(headers: grpc.Metadata): void {
    this.call.sendMetadata(headers);
  }

  send(message: Uint8Array): Promise<void> {
    return writeWithBackPressure(this.call, () => this.call.write(Buffer.from(message.buffer, message.byteOffset, message.byteLength)));
  }

  end(error: TunnelError | undefined, trailers: grpc.Metadata): void {
    if (this.ended || this.aborted.signal.aborted) {
      return;
    }
    this.ended = true;
    if (error === undefined) {
      this.call.end(trailers);
    } else {
      this.call.emit(
        "error",
        grpcStatusFromError(new TunnelError(error.code, error.rawMessage, { details: error.details, metadata: trailers })),
      );
    }
  }
}
