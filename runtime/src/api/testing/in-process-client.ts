import * as grpc from "@grpc/grpc-js";
import { Code } from "../../code.js";
import { toMetadata, type MetadataInit } from "../../metadata.js";
import { tunnelServiceDefinition, type TunnelServiceDefinition } from "../../transport/tunnel-service.js";
import { InMemoryClientCall, InMemoryServerCall } from "./in-memory-call.js";

/** What serves tunnel RPCs: a TunnelServiceHandler (its `service()`, as `grpc.Server.addService` takes it). */
export interface TunnelServiceHost {
  /** The definition and implementation of `grpctunnel.v1.TunnelService`. */
  service(): [TunnelServiceDefinition, grpc.UntypedServiceImplementation];
}

/** Options of `inProcessClient`. */
export interface InProcessClientOptions {
  /** The address the handler sees as the tunnels' peer (default "in-process:N", unique per client). */
  peer?: string;
  /** Metadata added to every tunnel RPC, under the caller's own (like a grpc-js call credential). */
  metadata?: MetadataInit;
}

type Serialize = (value: unknown) => Buffer;
type Deserialize = (bytes: Buffer) => unknown;
type Implementation = (call: InMemoryServerCall<unknown, unknown>) => void;

let clients = 0;

/**
 * A grpc-js client whose tunnel RPCs reach `host` in memory, without a
 * server or a socket: hand it to `openTunnel` (forward tunnels) or to a
 * `ReverseTunnelServer` (an agent's reverse tunnels), exactly where a
 * `TunnelServiceClient` goes. Frames are serialized and parsed as on the
 * wire, with flow control and back-pressure; the handler sees each client
 * as one connection. Other methods than the tunnel service's answer
 * UNIMPLEMENTED. `close()` it like any client.
 */
export class InProcessClient extends grpc.Client {
  private readonly implementation: grpc.UntypedServiceImplementation;
  /** The address the handler sees as this client's tunnels' peer. */
  readonly peer: string;
  private readonly extraMetadata: grpc.Metadata;

  constructor(host: TunnelServiceHost, options: InProcessClientOptions = {}) {
    // The channel is never used: it stays idle and makes no connection.
    super("in-process.invalid:1", grpc.credentials.createInsecure());
    this.implementation = host.service()[1];
    this.peer = options.peer ?? `in-process:${++clients}`;
    this.extraMetadata = toMetadata(options.metadata);
  }

  /** Starts a tunnel RPC in memory (`options`, e.g. a deadline, are not used). */
  override makeBidiStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    metadata: grpc.Metadata,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<RequestType, ResponseType>;
  /** Starts a tunnel RPC in memory, without request metadata. */
  override makeBidiStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    options?: grpc.CallOptions,
  ): grpc.ClientDuplexStream<RequestType, ResponseType>;
  override makeBidiStreamRequest<RequestType, ResponseType>(
    method: string,
    serialize: (value: RequestType) => Buffer,
    deserialize: (value: Buffer) => ResponseType,
    metadata?: grpc.Metadata | grpc.CallOptions,
  ): grpc.ClientDuplexStream<RequestType, ResponseType> {
    const requestMetadata = this.extraMetadata.clone();
    if (metadata instanceof grpc.Metadata) {
      requestMetadata.merge(metadata);
    }
    const client = new InMemoryClientCall<unknown, unknown>(
      { serialize: serialize as Serialize, deserialize: deserialize as Deserialize },
      "in-process",
    );
    const found = Object.values(tunnelServiceDefinition).find((m) => m.path === method);
    const implementation =
      found && (this.implementation[found.originalName[0].toLowerCase() + found.originalName.slice(1)] as unknown as Implementation);
    if (found === undefined || typeof implementation !== "function") {
      setImmediate(() =>
        client.receive({
          status: { code: Code.UNIMPLEMENTED, details: `${method} is not served in process`, metadata: new grpc.Metadata() },
        }),
      );
    } else {
      const server = new InMemoryServerCall<unknown, unknown>(
        client,
        { serialize: found.responseSerialize as Serialize, deserialize: found.requestDeserialize as Deserialize },
        requestMetadata,
        this.peer,
      );
      client.server = server;
      setImmediate(() => implementation(server));
    }
    return client as unknown as grpc.ClientDuplexStream<RequestType, ResponseType>;
  }
}

/** `new InProcessClient(host, options)`. */
export function inProcessClient(host: TunnelServiceHost, options?: InProcessClientOptions): InProcessClient {
  return new InProcessClient(host, options);
}
