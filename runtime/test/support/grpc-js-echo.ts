import type { EventEmitter } from "node:events";
/**
 * The echo service of runtime/test/proto/echo.proto, loaded with
 * @grpc/proto-loader the way existing grpc-js code loads its services: a
 * grpc-js style implementation, a typed view of the generated client, and
 * the three places a test can run it — a direct grpc-js server, a forward
 * tunnel and a reverse tunnel — behind one interface.
 */
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { grpcChannel, openTunnel, ReverseTunnelServer, TunnelServiceHandler } from "../../src/index.js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import { EventLog } from "./events.js";
import { startServer, tunnelClient, type Cleanup } from "./servers.js";

export interface EchoRequest {
  text?: string;
  count?: number;
  failCode?: number;
  failMessage?: string;
  withDetails?: boolean;
  waitForCancel?: boolean;
  throwError?: boolean;
}

export interface EchoResponse {
  text: string;
  index: number;
  metadata: Record<string, string>;
  binaryMetadata: Record<string, string>;
  hasDeadline: boolean;
}

/** grpc-js's ServerSurfaceCall (not exported by name). */
export type SurfaceCall =
  | grpc.ServerUnaryCall<unknown, unknown>
  | grpc.ServerReadableStream<unknown, unknown>
  | grpc.ServerWritableStream<unknown, unknown>
  | grpc.ServerDuplexStream<unknown, unknown>;

type Callback<T> = (error: grpc.ServiceError | null, value?: T) => void;

/** The client proto-loader generates, typed for the calls the tests make. */
export interface EchoClient extends grpc.Client {
  unary(req: EchoRequest, md: grpc.Metadata, options: grpc.CallOptions, cb: Callback<EchoResponse>): grpc.ClientUnaryCall;
  serverStream(req: EchoRequest, md: grpc.Metadata, options: grpc.CallOptions): grpc.ClientReadableStream<EchoResponse>;
  clientStream(md: grpc.Metadata, options: grpc.CallOptions, cb: Callback<EchoResponse>): grpc.ClientWritableStream<EchoRequest>;
  bidiStream(md: grpc.Metadata, options: grpc.CallOptions): grpc.ClientDuplexStream<EchoRequest, EchoResponse>;
  notImplemented(req: EchoRequest, md: grpc.Metadata, options: grpc.CallOptions, cb: Callback<EchoResponse>): grpc.ClientUnaryCall;
}

type EchoClientConstructor = (new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => EchoClient) & {
  service: grpc.ServiceDefinition;
};

export const ECHO_PROTO = fileURLToPath(new URL("../proto/echo.proto", import.meta.url));

const packageDefinition = protoLoader.loadSync(ECHO_PROTO, { keepCase: false, longs: String, enums: String, defaults: true });
const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
  tunneltest: { echo: { EchoService: EchoClientConstructor } };
};

export const EchoServiceClient = loaded.tunneltest.echo.EchoService;
export const echoService: grpc.ServiceDefinition = EchoServiceClient.service;

/** What the handlers observed, for assertions on the server side of a call. */
export class EchoProbe {
  /** A handler started (its call object). */
  readonly started = new EventLog<{ method: string; call: SurfaceCall }>();
  /** A call object emitted 'cancelled' (with its `cancelled` flag at that moment). */
  readonly cancelled = new EventLog<{ method: string; flag: boolean }>();
}

/** The binary header and trailer values (valid UTF-8, so tunnels carry them). */
export const BINARY = Buffer.from("bin\u20ac");

/** The details of errors asked for with `withDetails`. */
export function errorDetails(code: number, message: string): Buffer {
  const status = create(StatusSchema, {
    code,
    message,
    details: [anyPack(StringValueSchema, create(StringValueSchema, { value: "why" }))],
  });
  return Buffer.from(toBinary(StatusSchema, status));
}

function echo(call: SurfaceCall, text: string, index: number): EchoResponse {
  const metadata: Record<string, string> = {};
  const binaryMetadata: Record<string, string> = {};
  for (const [key, values] of Object.entries(call.metadata.toJSON())) {
    if (key.startsWith("x-") || key === "authorization") {
      if (key.endsWith("-bin")) {
        binaryMetadata[key] = values.map((v) => Buffer.from(v).toString("base64")).join(",");
      } else {
        // A direct grpc-js connection joins repeated text values into one
        // "a, b" (HTTP/2 header folding); tunnels keep them apart.
        metadata[key] = values
          .flatMap((v) =>
            String(v)
              .split(",")
              .map((part) => part.trim()),
          )
          .join(",");
      }
    }
  }
  return { text, index, metadata, binaryMetadata, hasDeadline: Number.isFinite(Number(call.getDeadline())) };
}

// Headers and trailers quote (the start of) the request text.
function headers(text: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("x-header", `h-${text.slice(0, 32)}`);
  md.set("x-header-bin", BINARY);
  return md;
}

function trailers(text: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("x-trailer", `t-${text.slice(0, 32)}`);
  md.set("x-trailer-bin", BINARY);
  return md;
}

function failure(req: EchoRequest): grpc.StatusObject {
  const md = trailers(req.text ?? "");
  const details = req.failMessage ?? "";
  if (req.withDetails) {
    md.set("grpc-status-details-bin", errorDetails(req.failCode!, details));
  }
  return { code: req.failCode!, details, metadata: md };
}

function watch(method: string, call: SurfaceCall, probe: EchoProbe): void {
  (call as EventEmitter).on("cancelled", () => probe.cancelled.push({ method, flag: call.cancelled }));
  probe.started.push({ method, call });
}

/** The echo service as grpc-js code implements it (method keys by `originalName`). */
export function echoImplementation(probe: EchoProbe): grpc.UntypedServiceImplementation {
  return {
    unary(call: grpc.ServerUnaryCall<EchoRequest, EchoResponse>, callback: grpc.sendUnaryData<EchoResponse>) {
      watch("unary", call, probe);
      const req = call.request;
      if (req.throwError) {
        throw new Error("boom");
      }
      if (req.waitForCancel) {
        return;
      }
      if (req.failCode) {
        callback(failure(req));
        return;
      }
      call.sendMetadata(headers(req.text ?? ""));
      callback(null, echo(call, req.text ?? "", 0), trailers(req.text ?? ""));
    },

    serverStream(call: grpc.ServerWritableStream<EchoRequest, EchoResponse>) {
      watch("serverStream", call, probe);
      const req = call.request;
      if (req.count) {
        call.sendMetadata(headers(req.text ?? ""));
      }
      for (let i = 0; i < (req.count ?? 0); i++) {
        call.write(echo(call, req.text ?? "", i));
      }
      if (req.waitForCancel) {
        return;
      }
      if (req.failCode) {
        call.emit("error", failure(req));
        return;
      }
      call.end(trailers(req.text ?? ""));
    },

    clientStream(call: grpc.ServerReadableStream<EchoRequest, EchoResponse>, callback: grpc.sendUnaryData<EchoResponse>) {
      watch("clientStream", call, probe);
      const texts: string[] = [];
      let failed: EchoRequest | undefined;
      call.on("data", (req: EchoRequest) => {
        texts.push(req.text ?? "");
        if (req.failCode && failed === undefined) {
          failed = req;
        }
      });
      call.on("end", () => {
        if (failed !== undefined) {
          callback(failure(failed));
          return;
        }
        call.sendMetadata(headers(texts.join(",")));
        callback(null, echo(call, texts.join(","), texts.length), trailers(texts.join(",")));
      });
    },

    bidiStream(call: grpc.ServerDuplexStream<EchoRequest, EchoResponse>) {
      watch("bidiStream", call, probe);
      let index = 0;
      let sentHeaders = false;
      call.on("data", (req: EchoRequest) => {
        if (req.waitForCancel) {
          return;
        }
        if (req.failCode) {
          call.emit("error", failure(req));
          return;
        }
        if (!sentHeaders) {
          sentHeaders = true;
          call.sendMetadata(headers(req.text ?? ""));
        }
        call.write(echo(call, req.text ?? "", index++));
      });
      call.on("end", () => call.end(trailers(String(index))));
    },
  };
}

export type Mode = "direct" | "forward" | "reverse";
export const MODES: Mode[] = ["direct", "forward", "reverse"];

export interface EchoTarget {
  mode: Mode;
  probe: EchoProbe;
  /** A new grpc-js client for the echo service, reaching it the `mode` way. */
  client(options?: grpc.ClientOptions): EchoClient;
}

/**
 * Serves the echo implementation and returns how to reach it: "direct" is a
 * grpc-js server and client; "forward" a TunnelServiceHandler with
 * `addService` and a client on `grpcChannel(openTunnel(...))`; "reverse" an
 * agent's ReverseTunnelServer with `addService` and a client on
 * `grpcChannel(handler.keyAsChannel(key))` at the hub.
 */
export interface EchoOptions {
  probe?: EchoProbe;
  /** grpc-js server interceptors: the grpc.Server's in "direct" mode, `addService`'s otherwise. */
  interceptors?: grpc.ServerInterceptor[];
  /** Replaces methods of the echo implementation. */
  impl?: grpc.UntypedServiceImplementation;
}

export async function startEcho(cleanup: Cleanup, mode: Mode, options: EchoOptions = {}): Promise<EchoTarget> {
  const probe = options.probe ?? new EchoProbe();
  const impl = { ...echoImplementation(probe), ...options.impl };
  const { interceptors } = options;
  const credentials = grpc.credentials.createInsecure();
  if (mode === "direct") {
    const server = await startServer((s) => s.addService(echoService, impl), { interceptors });
    cleanup.add(() => server.kill());
    return track(cleanup, mode, probe, (options) => new EchoServiceClient(server.address, credentials, options));
  }
  if (mode === "forward") {
    const handler = new TunnelServiceHandler();
    handler.addService(echoService, impl, { interceptors });
    const server = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => server.kill());
    const network = tunnelClient(server.address);
    cleanup.add(() => network.close());
    const tunnel = await openTunnel(network, { metadata: { "x-tunnel": "forward" } });
    cleanup.add(() => tunnel.close());
    return track(
      cleanup,
      mode,
      probe,
      (options) => new EchoServiceClient("tunnel", credentials, { ...options, channelOverride: grpcChannel(tunnel) }),
    );
  }
  const opened = new EventLog<string>();
  const handler = new TunnelServiceHandler<string>({
    affinityKey: (t) => String(t.metadata.get("agent-key")[0] ?? ""),
    onReverseTunnelOpen: (t) => opened.push(String(t.metadata.get("agent-key")[0] ?? "")),
  });
  const server = await startServer((s) => s.addService(...handler.service()));
  cleanup.add(() => server.kill());
  const network = tunnelClient(server.address);
  cleanup.add(() => network.close());
  const agent = new ReverseTunnelServer(network);
  agent.addService(echoService, impl, { interceptors });
  cleanup.add(() => agent.stop());
  const controller = new AbortController();
  cleanup.add(() => controller.abort());
  void agent.serve({ metadata: { "agent-key": "echo", "x-tunnel": "reverse" }, signal: controller.signal });
  await opened.waitFor((key) => key === "echo");
  const channel = handler.keyAsChannel("echo");
  return track(
    cleanup,
    mode,
    probe,
    (options) => new EchoServiceClient("tunnel", credentials, { ...options, channelOverride: grpcChannel(channel) }),
  );
}

function track(cleanup: Cleanup, mode: Mode, probe: EchoProbe, make: (options?: grpc.ClientOptions) => EchoClient): EchoTarget {
  return {
    mode,
    probe,
    client: (options) => {
      const client = make(options);
      cleanup.add(() => client.close());
      return client;
    },
  };
}
