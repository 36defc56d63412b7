// grpc-js service definitions and implementations registered with
// `addService` on TunnelServiceHandler (forward) and ReverseTunnelServer
// (reverse): registration rules, tunnel metadata, server interceptors,
// backpressure, and the status details mapping towards tunnel clients.
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import {
  Code,
  ReverseTunnelServer,
  TunnelError,
  TunnelServiceHandler,
  grpcChannel,
  openTunnel,
  tunnelMetadataFromCall,
  unaryCall as tunneledUnaryCall,
} from "../src/index.js";
import { StatusSchema } from "../src/gen/google/rpc/status_pb.js";
import { EventLog, outcome } from "./support/events.js";
import { deferred } from "../src/deferred.js";
import {
  EchoServiceClient,
  MODES,
  echoService,
  startEcho,
  type EchoRequest,
  type EchoResponse,
  type SurfaceCall,
} from "./support/grpc-js-echo.js";
import { startAgent, startHub } from "./support/reverse.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const Status = grpc.status;

/** grpchantesting.TestService loaded with proto-loader: a grpc-js definition of the interop service. */
const interopTestService = (
  grpc.loadPackageDefinition(
    protoLoader.loadSync(fileURLToPath(new URL("../../interop/proto/grpchantesting/test.proto", import.meta.url)), {
      keepCase: false,
      longs: String,
      defaults: true,
    }),
  ) as unknown as { grpchantesting: { TestService: { service: grpc.ServiceDefinition } } }
).grpchantesting.TestService.service;

function unaryCall(
  client: InstanceType<typeof EchoServiceClient>,
  req: EchoRequest,
  md = new grpc.Metadata(),
): Promise<{ error: grpc.ServiceError | null; res?: EchoResponse }> {
  return new Promise((resolve) => client.unary(req, md, {}, (error, res) => resolve({ error, res })));
}

describe("addService registration", () => {
  it("refuses what grpc.Server.addService refuses, and a service registered twice", () => {
    const handler = new TunnelServiceHandler();
    expect(() => handler.addService({}, {})).toThrow("Cannot add an empty service to a server");
    expect(() => handler.addService(null as unknown as grpc.ServiceDefinition, {})).toThrow(
      "addService() requires two objects as arguments",
    );
    handler.addService(echoService, {});
    expect(() => handler.addService(echoService, {})).toThrow(/already provided/);
    const rts = new ReverseTunnelServer(tunnelClient("127.0.0.1:1"));
    cleanup.add(() => rts.stop());
    rts.addService(echoService, {});
    expect(() => rts.addService(echoService, {})).toThrow(/already provided/);
  });

  it("a service registered with registerService cannot be added again as a grpc-js definition", () => {
    const handler = new TunnelServiceHandler();
    handler.registerService(TestService, {});
    expect(() => handler.addService(interopTestService, {})).toThrow("service grpchantesting.TestService is already registered");
  });
});

describe.each(MODES)("grpc-js service features, %s", (mode) => {
  it("tunnelMetadataFromCall gives the tunnel RPC's metadata to handlers (undefined over a direct connection)", async () => {
    const seen = deferred<grpc.Metadata | undefined>();
    const target = await startEcho(cleanup, mode, {
      impl: {
        unary(call: grpc.ServerUnaryCall<EchoRequest, EchoResponse>, callback: grpc.sendUnaryData<EchoResponse>) {
          seen.resolve(tunnelMetadataFromCall(call));
          callback(null, {} as EchoResponse); // proto-loader fills in defaults
        },
      },
    });
    const { error } = await unaryCall(target.client(), {});
    expect(error).toBeNull();
    const tunnelMetadata = await seen.promise;
    expect(tunnelMetadata?.get("x-tunnel")).toEqual(mode === "direct" ? undefined : [mode]);
  });

  it("runs grpc-js server interceptors as a grpc.Server does", async () => {
    const log: string[] = [];
    const auth: grpc.ServerInterceptor = (method, call) =>
      new grpc.ServerInterceptingCall(call, {
        start(next) {
          next({
            onReceiveMetadata(metadata, nextMetadata) {
              log.push(`${method.path} ${metadata.get("x-auth")[0] ?? "-"}`);
              if (metadata.get("x-auth")[0] === "ok") {
                nextMetadata(metadata);
              } else {
                call.sendStatus({ code: Status.UNAUTHENTICATED, details: "who are you?", metadata: null });
              }
            },
          });
        },
        sendStatus(status, next) {
          const trailers = status.metadata?.clone() ?? new grpc.Metadata();
          trailers.set("x-intercepted", "yes");
          next({ ...status, metadata: trailers });
        },
      });
    const client = (await startEcho(cleanup, mode, { interceptors: [auth] })).client();
    const refused = await unaryCall(client, { text: "a" });
    expect([refused.error?.code, refused.error?.details]).toEqual([Status.UNAUTHENTICATED, "who are you?"]);
    const md = new grpc.Metadata();
    md.set("x-auth", "ok");
    const accepted = await new Promise<grpc.StatusObject>((resolve) => client.unary({ text: "b" }, md, {}, () => {}).on("status", resolve));
    expect([accepted.code, accepted.metadata.get("x-intercepted"), accepted.metadata.get("x-trailer")]).toEqual([
      Status.OK,
      ["yes"],
      ["t-b"],
    ]);
    expect(log).toEqual(["/tunneltest.echo.EchoService/Unary -", "/tunneltest.echo.EchoService/Unary ok"]);
  });
});

describe("grpc-js services over tunnels", () => {
  it("a handler that honours write() backpressure streams 2 MB through the tunnel's flow control", async () => {
    for (const mode of ["forward", "reverse"] as const) {
      let waits = 0;
      const target = await startEcho(cleanup, mode, {
        impl: {
          serverStream(call: grpc.ServerWritableStream<EchoRequest, EchoResponse>) {
            const text = "p".repeat(1_000);
            let index = 0;
            const writeMore = () => {
              while (index < 2_000) {
                if (!call.write({ text, index: index++ } as EchoResponse)) {
                  waits++;
                  call.once("drain", writeMore);
                  return;
                }
              }
              call.end();
            };
            writeMore();
          },
        },
      });
      const stream = target.client().serverStream({}, new grpc.Metadata(), {});
      let expected = 0;
      for await (const res of stream as AsyncIterable<EchoResponse>) {
        expect(res.index).toBe(expected++);
      }
      expect(expected).toBe(2_000);
      expect(waits).toBeGreaterThan(0);
    }
  });

  it("spreads calls over every agent of asChannel(), each serving with its own tunnel metadata", async () => {
    const hub = await startHub(cleanup);
    const served = new EventLog<string>();
    for (const name of ["a1", "a2"]) {
      const agent = startAgent(cleanup, hub.address, { name, manual: true });
      agent.rts.addService(echoService, {
        unary(call: grpc.ServerUnaryCall<EchoRequest, EchoResponse>, callback: grpc.sendUnaryData<EchoResponse>) {
          const agentName = String(tunnelMetadataFromCall(call)?.get("agent-name")[0]);
          served.push(agentName);
          callback(null, { text: agentName } as EchoResponse);
        },
      });
      void agent.rts.serve(agent.serveOptions);
    }
    await hub.opened.waitForCount(2);
    const client = new EchoServiceClient("hub", grpc.credentials.createInsecure(), {
      channelOverride: grpcChannel(hub.handler.asChannel()),
    });
    cleanup.add(() => client.close());
    const texts = [];
    for (let i = 0; i < 4; i++) {
      const { res } = await unaryCall(client, {});
      texts.push(res?.text);
    }
    expect(texts.sort()).toEqual(["a1", "a1", "a2", "a2"]);
  });

  it("a grpc-js handler's grpc-status-details-bin reaches tunnel clients as TunnelError details", async () => {
    const why = anyPack(StringValueSchema, create(StringValueSchema, { value: "why" }));
    const handler = new TunnelServiceHandler();
    handler.addService(interopTestService, {
      unary(_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) {
        const trailers = new grpc.Metadata();
        trailers.set("x-t", "tv");
        const status = create(StatusSchema, { code: Status.FAILED_PRECONDITION, message: "precondition", details: [why] });
        trailers.set("grpc-status-details-bin", Buffer.from(toBinary(StatusSchema, status)));
        callback({ code: Status.FAILED_PRECONDITION, details: "precondition", metadata: trailers });
      },
    });
    const server = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => server.kill());
    const network = tunnelClient(server.address);
    cleanup.add(() => network.close());
    const native = await openTunnel(network);
    cleanup.add(() => native.close());
    const result = await outcome(tunneledUnaryCall(native, TestService.method.unary, {}));
    expect(result.ok).toBe(false);
    const error = (result as { error: TunnelError }).error;
    expect(error).toBeInstanceOf(TunnelError);
    expect([error.code, error.rawMessage]).toEqual([Code.FAILED_PRECONDITION, "precondition"]);
    expect(error.findDetails(StringValueSchema).map((d) => d.value)).toEqual(["why"]);
    expect(error.metadata.get("x-t")).toEqual(["tv"]);
    expect(error.metadata.get("grpc-status-details-bin")).toEqual([]);
  });

  it("a handler's call reports the tunnel call's deadline and the tunnel's peer", async () => {
    const seen = deferred<SurfaceCall>();
    const target = await startEcho(cleanup, "forward", {
      impl: {
        unary(call: grpc.ServerUnaryCall<EchoRequest, EchoResponse>, callback: grpc.sendUnaryData<EchoResponse>) {
          seen.resolve(call);
          callback(null, {} as EchoResponse); // proto-loader fills in defaults
        },
      },
    });
    const deadline = Date.now() + 30_000;
    await new Promise((resolve) => target.client().unary({}, new grpc.Metadata(), { deadline }, resolve));
    const call = await seen.promise;
    expect(Math.abs(Number(call.getDeadline()) - deadline)).toBeLessThan(1_000);
    // The peer of the tunnel RPC: the network client that opened the tunnel.
    expect(call.getPeer()).toMatch(/^(ipv4:)?127\.0\.0\.1:\d+$/);
    expect(call.getPath()).toBe("/tunneltest.echo.EchoService/Unary");
    expect(call.getAuthContext()).toEqual({}); // plaintext: no transport security
    expect(() => call.getMetricsRecorder().recordCPUUtilizationMetric(0.5)).not.toThrow();
  });
});
