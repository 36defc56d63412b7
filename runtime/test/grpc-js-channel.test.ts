// The grpc-js channel adapter (`grpcChannel`): connectivity, closing, call
// credentials, parent propagation, peers, and grpc-js clients calling
// services implemented with protobuf-es (`registerService`).
import { EventEmitter } from "node:events";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { anyUnpack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import { grpcChannel } from "../src/index.js";
import { StatusSchema } from "../src/gen/google/rpc/status_pb.js";
import { deferred } from "../src/deferred.js";
import { forwardFixture } from "./support/forward-fixture.js";
import {
  EchoProbe,
  EchoServiceClient,
  echoService,
  echoImplementation,
  type EchoRequest,
  type EchoResponse,
} from "./support/grpc-js-echo.js";
import { connectAgent, startHub } from "./support/reverse.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const Status = grpc.status;
const State = grpc.connectivityState;
const insecure = grpc.credentials.createInsecure();

/** The interop TestService's grpc-js client, as proto-loader generates it. */
interface Message {
  payload: Buffer;
  count: number;
  code: number;
  headers: Record<string, Buffer>;
  trailers: Record<string, Buffer>;
  errorDetails: { type_url: string; value: Buffer }[];
}
interface TestServiceClient extends grpc.Client {
  unary(
    req: Partial<Message>,
    md: grpc.Metadata,
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, res?: Message) => void,
  ): grpc.ClientUnaryCall;
  bidiStream(md: grpc.Metadata, options: grpc.CallOptions): grpc.ClientDuplexStream<Partial<Message>, Message>;
}
const TestServiceClient = (
  grpc.loadPackageDefinition(
    protoLoader.loadSync(fileURLToPath(new URL("../../interop/proto/grpchantesting/test.proto", import.meta.url)), {
      keepCase: false,
      longs: String,
      defaults: true,
    }),
  ) as unknown as {
    grpchantesting: {
      TestService: new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ClientOptions) => TestServiceClient;
    };
  }
).grpchantesting.TestService;

function call<T>(
  start: (cb: (err: grpc.ServiceError | null, res?: T) => void) => grpc.ClientUnaryCall,
): Promise<{ error: grpc.ServiceError | null; res?: T; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    let result: { error: grpc.ServiceError | null; res?: T } = { error: null };
    start((error, res) => (result = { error, res })).on("status", (status: grpc.StatusObject) => resolve({ ...result, status }));
  });
}

async function echoOverForwardTunnel(probe = new EchoProbe()) {
  const fixture = await forwardFixture(cleanup);
  fixture.handler.addService(echoService, echoImplementation(probe));
  return { ...fixture, probe };
}

describe("grpc-js clients on grpcChannel", () => {
  it("call a protobuf-es service (registerService) over a forward tunnel, details arriving as grpc-status-details-bin", async () => {
    const { tunnel } = await forwardFixture(cleanup);
    const client = new TestServiceClient("tunnel", insecure, { channelOverride: grpcChannel(tunnel) });
    cleanup.add(() => client.close());

    const md = new grpc.Metadata();
    md.set("x-call", "c");
    let headers: grpc.Metadata | undefined;
    const ok = await call<Message>((cb) => {
      const c = client.unary(
        { payload: Buffer.from("hi"), headers: { "x-h": Buffer.from("hv") }, trailers: { "x-t": Buffer.from("tv") } },
        md,
        {},
        cb,
      );
      c.on("metadata", (m: grpc.Metadata) => (headers = m));
      return c;
    });
    expect(ok.res?.payload).toEqual(Buffer.from("hi"));
    expect(ok.res?.headers["x-call"]).toEqual(Buffer.from("c"));
    expect(headers?.get("x-h")).toEqual(["hv"]);
    expect(ok.status.metadata.get("x-t")).toEqual(["tv"]);

    const why = {
      type_url: "type.googleapis.com/google.protobuf.StringValue",
      value: Buffer.from(toBinary(StringValueSchema, create(StringValueSchema, { value: "why" }))),
    };
    const failed = await call<Message>((cb) =>
      client.unary({ code: Status.RESOURCE_EXHAUSTED, errorDetails: [why] }, new grpc.Metadata(), {}, cb),
    );
    expect([failed.error?.code, failed.error?.details]).toEqual([Status.RESOURCE_EXHAUSTED, "error"]);
    const status = fromBinary(StatusSchema, failed.error!.metadata.get("grpc-status-details-bin")[0] as Buffer);
    expect([status.code, status.message]).toEqual([Status.RESOURCE_EXHAUSTED, "error"]);
    expect(status.details.map((d) => anyUnpack(d, StringValueSchema)?.value)).toEqual(["why"]);

    const bidi = client.bidiStream(new grpc.Metadata(), {});
    bidi.write({ payload: Buffer.from("a") });
    bidi.write({ payload: Buffer.from("b") });
    bidi.end();
    const counts: number[] = [];
    for await (const res of bidi as AsyncIterable<Message>) {
      counts.push(res.count);
    }
    expect(counts).toEqual([1, 2]);
  });

  it("report the peer of the tunnel that carries the call", async () => {
    const { tunnel } = await echoOverForwardTunnel();
    const client = new EchoServiceClient("tunnel", insecure, { channelOverride: grpcChannel(tunnel) });
    cleanup.add(() => client.close());
    const c = client.unary({ text: "p" }, new grpc.Metadata(), {}, () => {});
    await new Promise((resolve) => c.on("status", resolve));
    expect(c.getPeer()).toBe(tunnel.peer);
    expect(tunnel.peer).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("forward tunnel: READY until the tunnel ends, then SHUTDOWN; calls then fail with UNAVAILABLE", async () => {
    const { tunnel } = await echoOverForwardTunnel();
    const channel = grpcChannel(tunnel, { target: "my-tunnel" });
    const client = new EchoServiceClient("ignored", insecure, { channelOverride: channel });
    expect(channel.getTarget()).toBe("my-tunnel");
    expect(channel.getConnectivityState(true)).toBe(State.READY);
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 5_000, (e) => (e ? reject(e) : resolve())));
    const changed = new Promise<Error | undefined>((resolve) => channel.watchConnectivityState(State.READY, Infinity, resolve));
    tunnel.close();
    expect(await changed).toBeUndefined();
    expect(channel.getConnectivityState(false)).toBe(State.SHUTDOWN);
    const after = await call<EchoResponse>((cb) => client.unary({}, new grpc.Metadata(), {}, cb));
    expect(after.error?.code).toBe(Status.UNAVAILABLE);
  });

  it("reverse channel: TRANSIENT_FAILURE without a tunnel (calls fail fast), READY once an agent connects", async () => {
    const hub = await startHub(cleanup);
    const channel = grpcChannel(hub.handler.keyAsChannel("late"));
    const client = new EchoServiceClient("ignored", insecure, { channelOverride: channel });
    cleanup.add(() => client.close());
    expect(channel.getConnectivityState(true)).toBe(State.TRANSIENT_FAILURE);
    const early = await call<EchoResponse>((cb) => client.unary({}, new grpc.Metadata(), {}, cb));
    expect([early.error?.code, early.error?.details]).toEqual([Status.UNAVAILABLE, 'no reverse tunnel for key "late"']);

    const ready = new Promise<Error | undefined>((resolve) => client.waitForReady(Date.now() + 20_000, resolve));
    const agent = await connectAgent(cleanup, hub, { name: "late", manual: false });
    agent.rts.addService(echoService, echoImplementation(new EchoProbe()));
    expect(await ready).toBeUndefined();
    expect(channel.getConnectivityState(false)).toBe(State.READY);
    const ok = await call<EchoResponse>((cb) => client.unary({ text: "now" }, new grpc.Metadata(), {}, cb));
    expect([ok.error, ok.res?.text]).toEqual([null, "now"]);

    // One reverse tunnel (rather than a round-robin channel) works the same way.
    const single = new EchoServiceClient("ignored", insecure, { channelOverride: grpcChannel(agent.tunnel) });
    cleanup.add(() => single.close());
    const viaTunnel = await call<EchoResponse>((cb) => single.unary({ text: "one" }, new grpc.Metadata(), {}, cb));
    expect([viaTunnel.error, viaTunnel.res?.text]).toEqual([null, "one"]);
  });

  it("watchConnectivityState reports a deadline that passes without a change", async () => {
    const { tunnel } = await echoOverForwardTunnel();
    const channel = grpcChannel(tunnel);
    const error = await new Promise<Error | undefined>((resolve) => channel.watchConnectivityState(State.READY, Date.now() + 20, resolve));
    expect(error?.message).toBe("Deadline passed without connectivity state change");
  });

  it("client.close() closes the adapter, not the tunnel other clients share", async () => {
    const { tunnel } = await echoOverForwardTunnel();
    const first = new EchoServiceClient("t", insecure, { channelOverride: grpcChannel(tunnel) });
    const second = new EchoServiceClient("t", insecure, { channelOverride: grpcChannel(tunnel) });
    cleanup.add(() => second.close());
    first.close();
    expect(() => first.unary({}, new grpc.Metadata(), {}, () => {})).toThrow("Channel has been shut down");
    const ok = await call<EchoResponse>((cb) => second.unary({ text: "still" }, new grpc.Metadata(), {}, cb));
    expect(ok.res?.text).toBe("still");
    expect(tunnel.closed).toBe(false);
  });

  it("applies call credentials, and fails the call when they cannot be generated", async () => {
    const { tunnel } = await echoOverForwardTunnel();
    const client = new EchoServiceClient("echo.example", insecure, { channelOverride: grpcChannel(tunnel, { target: "echo.example" }) });
    cleanup.add(() => client.close());
    const params: unknown[] = [];
    const credentials = grpc.credentials.createFromMetadataGenerator((p, cb) => {
      params.push(p);
      const md = new grpc.Metadata();
      md.set("authorization", "Bearer t0k3n");
      cb(null, md);
    });
    const ok = await call<EchoResponse>((cb) => client.unary({ text: "c" }, new grpc.Metadata(), { credentials }, cb));
    expect(ok.res?.metadata).toEqual({ authorization: "Bearer t0k3n" });
    expect(params).toEqual([
      { service_url: "https://echo.example/tunneltest.echo.EchoService", method_name: "/tunneltest.echo.EchoService/Unary" },
    ]);

    const broken = grpc.credentials.createFromMetadataGenerator((_p, cb) => cb(new Error("no token")));
    const failed = await call<EchoResponse>((cb) => client.unary({ text: "c" }, new grpc.Metadata(), { credentials: broken }, cb));
    expect([failed.error?.code, failed.error?.details]).toEqual([
      Status.UNKNOWN,
      "Getting metadata from plugin failed with error: no token",
    ]);
  });

  it("propagates a parent call's deadline and cancellation, unless told not to", async () => {
    const { tunnel, probe } = await echoOverForwardTunnel();
    const client = new EchoServiceClient("t", insecure, { channelOverride: grpcChannel(tunnel) });
    cleanup.add(() => client.close());
    const parent = Object.assign(new EventEmitter(), { getDeadline: () => Date.now() + 60_000 });
    const asParent = parent as unknown as grpc.ServerUnaryCall<unknown, unknown>;

    const withDeadline = await call<EchoResponse>((cb) => client.unary({ text: "d" }, new grpc.Metadata(), { parent: asParent }, cb));
    expect(withDeadline.res?.hasDeadline).toBe(true);
    const without = await call<EchoResponse>((cb) =>
      client.unary({ text: "d" }, new grpc.Metadata(), { parent: asParent, propagate_flags: 0 }, cb),
    );
    expect(without.res?.hasDeadline).toBe(false);

    const pending = call<EchoResponse>((cb) => client.unary({ waitForCancel: true }, new grpc.Metadata(), { parent: asParent }, cb));
    await probe.started.waitFor(
      (s) => s.method === "unary" && ((s.call as { request?: unknown }).request as EchoRequest).waitForCancel === true,
    );
    parent.emit("cancelled", "cancelled");
    const cancelled = await pending;
    expect([cancelled.error?.code, cancelled.error?.details]).toEqual([Status.CANCELLED, "Cancelled by parent call"]);
    expect(await probe.cancelled.waitFor((c) => c.method === "unary")).toMatchObject({ flag: true });
    expect(parent.listenerCount("cancelled")).toBe(0);
  });

  it("refuses binary metadata the tunnel cannot carry with INTERNAL, naming the key", async () => {
    const { tunnel } = await echoOverForwardTunnel();
    const client = new EchoServiceClient("t", insecure, { channelOverride: grpcChannel(tunnel) });
    cleanup.add(() => client.close());
    const md = new grpc.Metadata();
    md.set("x-raw-bin", Buffer.from([0xff, 0xfe]));
    const failed = await call<EchoResponse>((cb) => client.unary({}, md, {}, cb));
    expect(failed.error?.code).toBe(Status.INTERNAL);
    expect(failed.error?.details).toContain("x-raw-bin");
  });

  it("delivers every message a server sent before its error, then the error", async () => {
    const { tunnel } = await echoOverForwardTunnel();
    const client = new EchoServiceClient("t", insecure, { channelOverride: grpcChannel(tunnel) });
    cleanup.add(() => client.close());
    const stream = client.serverStream({ text: "m", count: 50, failCode: Status.DATA_LOSS, failMessage: "lost" }, new grpc.Metadata(), {});
    const received: number[] = [];
    const error = deferred<grpc.ServiceError>();
    stream.on("data", (res: EchoResponse) => received.push(res.index));
    stream.on("error", (e: grpc.ServiceError) => error.resolve(e));
    expect((await error.promise).code).toBe(Status.DATA_LOSS);
    expect(received).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
