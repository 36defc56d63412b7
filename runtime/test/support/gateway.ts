/**
 * A control server ("hub") with a tunnel gateway on a port of its own, and
 * grpc-js callers that call agents through it with generic (bytes) methods.
 */
import { connect, type ClientHttp2Stream } from "node:http2";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { MessageSchema, type Message } from "@protoc-gen-tunnel/interop";
import {
  allowAll,
  createTunnelGateway,
  type TunnelGateway,
  type TunnelGatewayOptions,
  type TunnelGatewayServer,
} from "../../src/gateway.js";
import {
  HealthCheckRequestSchema,
  type HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "../../src/gen/grpc/health/v1/health_pb.js";
import { startHub, type Hub, type HubOptions } from "./reverse.js";
import type { Cleanup } from "./servers.js";

export interface GatewayFixture {
  hub: Hub<string>;
  gateway: TunnelGateway;
  server: TunnelGatewayServer;
  /** "127.0.0.1:port" of the gateway. */
  address: string;
}

export async function startGateway(
  cleanup: Cleanup,
  options: Partial<TunnelGatewayOptions> = {},
  hubOptions: HubOptions<string> = {},
): Promise<GatewayFixture> {
  const hub = await startHub<string>(cleanup, hubOptions);
  const gateway = createTunnelGateway(hub.handler, { authorize: allowAll, ...options });
  const server = await gateway.listen();
  cleanup.add(() => server.close());
  return { hub, gateway, server, address: server.address };
}

/** A plain grpc-js client of the gateway (no tunnel code on this side). */
export function gatewayClient(cleanup: Cleanup, address: string, options: grpc.ClientOptions = {}): grpc.Client {
  const client = new grpc.Client(address, grpc.credentials.createInsecure(), { "grpc.use_local_subchannel_pool": 1, ...options });
  cleanup.add(() => client.close());
  return client;
}

const serialize = (m: MessageInitShape<typeof MessageSchema>): Buffer => Buffer.from(toBinary(MessageSchema, create(MessageSchema, m)));
const deserialize = (b: Buffer): Message => fromBinary(MessageSchema, b);

export const TEST_METHOD = {
  unary: "/grpchantesting.TestService/Unary",
  clientStream: "/grpchantesting.TestService/ClientStream",
  serverStream: "/grpchantesting.TestService/ServerStream",
  bidiStream: "/grpchantesting.TestService/BidiStream",
} as const;

/** Request metadata naming the agent's key (and anything else). */
export function keyed(key: string | undefined, extra: Record<string, string | Buffer> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  if (key !== undefined) {
    md.set("tunnel-key", key);
  }
  for (const [name, value] of Object.entries(extra)) {
    md.set(name, value);
  }
  return md;
}

export interface UnaryResult {
  response: Message;
  headers: grpc.Metadata;
  trailers: grpc.Metadata;
}

/** A unary call through the gateway; rejects with grpc-js's ServiceError. */
export function callUnary(
  client: grpc.Client,
  metadata: grpc.Metadata,
  request: MessageInitShape<typeof MessageSchema>,
  options: grpc.CallOptions = {},
  method: string = TEST_METHOD.unary,
): Promise<UnaryResult> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    let result: Message | undefined;
    let failed: grpc.ServiceError | null = null;
    const call = client.makeUnaryRequest(method, serialize, deserialize, request, metadata, options, (error, response) => {
      failed = error;
      result = response;
    });
    call.on("metadata", (md) => (headers = md));
    // grpc-js calls the callback first, then emits 'status' with the trailers.
    call.on("status", (status) => (failed === null ? resolve({ response: result!, headers, trailers: status.metadata }) : reject(failed)));
  });
}

/** A server-streaming call through the gateway: the responses, or the error. */
export function callServerStream(
  client: grpc.Client,
  metadata: grpc.Metadata,
  request: MessageInitShape<typeof MessageSchema>,
  options: grpc.CallOptions = {},
): grpc.ClientReadableStream<Message> {
  return client.makeServerStreamRequest(TEST_METHOD.serverStream, serialize, deserialize, request, metadata, options);
}

export function callBidi(client: grpc.Client, metadata: grpc.Metadata, options: grpc.CallOptions = {}) {
  return client.makeBidiStreamRequest(TEST_METHOD.bidiStream, serialize, deserialize, metadata, options);
}

export function callClientStream(
  client: grpc.Client,
  metadata: grpc.Metadata,
  requests: MessageInitShape<typeof MessageSchema>[],
): Promise<Message> {
  return new Promise((resolve, reject) => {
    const call = client.makeClientStreamRequest(TEST_METHOD.clientStream, serialize, deserialize, metadata, {}, (error, response) =>
      error ? reject(error) : resolve(response!),
    );
    for (const request of requests) {
      call.write(request);
    }
    call.end();
  });
}

/** The status of a call that must fail. */
export async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error("the call succeeded");
}

/** Reads a client stream to its end: the messages, then the error or undefined. */
export function collect<T>(
  stream: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>,
): Promise<{ messages: T[]; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    stream.on("data", (m: T) => messages.push(m));
    stream.on("error", (error: grpc.ServiceError) => resolve({ messages, error }));
    stream.on("end", () => resolve({ messages }));
  });
}

/** grpc.health.v1.Health/Check through the gateway: the status, or grpc-js's ServiceError. */
export function checkHealth(
  client: grpc.Client,
  service: string,
  metadata = new grpc.Metadata(),
): Promise<HealthCheckResponse_ServingStatus> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      (s: string) => Buffer.from(toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service: s }))),
      (b: Buffer) => fromBinary(HealthCheckResponseSchema, b).status,
      service,
      metadata,
      {},
      (error, status) => (error ? reject(error) : resolve(status!)),
    ),
  );
}

/**
 * A gRPC request on a raw HTTP/2 connection to the gateway (no gRPC
 * library, so a test controls exactly what is sent and read): `body` is
 * sent whole and the request half-closed.
 */
export function rawGrpcRequest(
  cleanup: Cleanup,
  address: string,
  path: string,
  headers: Record<string, string>,
  body: Buffer,
): ClientHttp2Stream {
  const session = connect(`http://${address}`);
  cleanup.add(() => session.destroy());
  const stream = session.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers", ...headers });
  stream.end(body);
  return stream;
}
