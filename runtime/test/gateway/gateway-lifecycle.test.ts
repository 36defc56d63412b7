import { connect, constants } from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { HealthCheckResponse_ServingStatus as ServingStatus } from "../../src/gen/grpc/health/v1/health_pb.js";
import {
  callServerStream,
  callUnary,
  checkHealth,
  collect,
  failure,
  gatewayClient,
  keyed,
  rawGrpcRequest,
  startGateway,
} from "../support/gateway.js";
import { connectAgent, Gate, startAgent } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("gateway: deadlines, cancellation, waiting for the agent", () => {
  it("the caller's deadline reaches the agent: a slow handler ends DEADLINE_EXCEEDED and sees its signal fire", async () => {
    const { hub, address } = await startGateway(cleanup);
    const gate = new Gate();
    await connectAgent(cleanup, hub, { name: "camera-3", impl: { serverStream: gate.serverStream } });
    const client = gatewayClient(cleanup, address);
    const stream = callServerStream(client, keyed("camera-3"), { count: 5 }, { deadline: Date.now() + 300 });
    const result = collect(stream);
    const ctx = await gate.entered.promise;
    expect(ctx.deadline).toBeDefined();
    expect(ctx.deadline!.getTime() - Date.now()).toBeLessThanOrEqual(300);
    const { messages, error } = await result;
    expect(messages).toHaveLength(1);
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await gate.aborted.promise;
  });

  it("a caller that cancels cancels the agent's handler", async () => {
    const { hub, address } = await startGateway(cleanup);
    const gate = new Gate();
    await connectAgent(cleanup, hub, { name: "camera-3", impl: { serverStream: gate.serverStream } });
    const client = gatewayClient(cleanup, address);
    const stream = callServerStream(client, keyed("camera-3"), { count: 5 });
    const result = collect(stream);
    await gate.entered.promise;
    stream.cancel();
    expect((await result).error?.code).toBe(grpc.status.CANCELLED);
    await gate.aborted.promise;
    expect(gate.wasAborted).toBe(true);
  });

  it("an agent that goes away mid-call ends the caller's call with an error, not a hang", async () => {
    const { hub, address } = await startGateway(cleanup);
    const gate = new Gate();
    const agent = await connectAgent(cleanup, hub, { name: "camera-3", impl: { serverStream: gate.serverStream } });
    const client = gatewayClient(cleanup, address);
    const result = collect(callServerStream(client, keyed("camera-3"), { count: 5 }));
    await gate.entered.promise;
    agent.controller.abort();
    agent.rts.stop();
    const { error } = await result;
    expect([grpc.status.UNAVAILABLE, grpc.status.CANCELLED]).toContain(error?.code);
  });

  it("with the tunnel-wait-for-ready header a call waits for the agent to connect; without it, it fails at once", async () => {
    const { hub, address } = await startGateway(cleanup);
    const client = gatewayClient(cleanup, address);
    expect((await failure(callUnary(client, keyed("camera-3"), {}))).code).toBe(grpc.status.UNAVAILABLE);
    const waiting = callUnary(client, keyed("camera-3", { "tunnel-wait-for-ready": "true" }), { payload: Buffer.from("waited") });
    const bad = await failure(callUnary(client, keyed("camera-3", { "tunnel-wait-for-ready": "maybe" }), {}));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    startAgent(cleanup, hub.address, { name: "camera-3" });
    const { response } = await waiting;
    expect(Buffer.from(response.payload).toString()).toBe("waited");
    expect(response.headers["tunnel-wait-for-ready"]).toBeUndefined();
    // Waiting stops at the deadline.
    const late = await failure(
      callUnary(client, keyed("camera-9", { "tunnel-wait-for-ready": "true" }), {}, { deadline: Date.now() + 200 }),
    );
    expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });
});

describe("gateway: grpc.health.v1", () => {
  it("the empty service is the gateway; a key's service is whether that agent is reachable; serving=false reports NOT_SERVING", async () => {
    const { hub, address, gateway } = await startGateway(cleanup);
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const client = gatewayClient(cleanup, address);
    expect(await checkHealth(client, "")).toBe(ServingStatus.SERVING);
    expect(await checkHealth(client, "camera-3")).toBe(ServingStatus.SERVING);
    expect(await checkHealth(client, "camera-9")).toBe(ServingStatus.NOT_SERVING);
    gateway.serving = false;
    expect(await checkHealth(client, "")).toBe(ServingStatus.NOT_SERVING);
    expect((await failure(callUnary(client, keyed("camera-3"), {}))).code).toBe(grpc.status.UNAVAILABLE);
    gateway.serving = true;
    expect(await checkHealth(client, "")).toBe(ServingStatus.SERVING);
  });

  it("a key's health check is authorized like a call to it", async () => {
    const { hub, address } = await startGateway(cleanup, { authorize: (_call, key) => key !== "secret-camera" });
    await connectAgent(cleanup, hub, { name: "secret-camera" });
    const client = gatewayClient(cleanup, address);
    expect(await checkHealth(client, "")).toBe(ServingStatus.SERVING);
    const denied = await failure(checkHealth(client, "secret-camera"));
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it("Watch is UNIMPLEMENTED; with a key header a health call goes to the agent like any call", async () => {
    const { hub, address } = await startGateway(cleanup);
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const client = gatewayClient(cleanup, address);
    const watch = client.makeServerStreamRequest(
      "/grpc.health.v1.Health/Watch",
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
    );
    expect((await collect(watch)).error?.code).toBe(grpc.status.UNIMPLEMENTED);
    const forwarded = await failure(checkHealth(client, "", keyed("camera-3")));
    expect(forwarded.code).toBe(grpc.status.UNIMPLEMENTED); // the agent serves no health service
    expect(forwarded.details).toMatch(/grpc.health.v1.Health/);
  });
});

describe("gateway: bad input is bounded like tunnels", () => {
  /** A raw HTTP/2 gRPC request with the given body: the status it ends with. */
  async function rawCall(address: string, headers: Record<string, string>, body: Buffer): Promise<{ status?: string; message?: string }> {
    const stream = rawGrpcRequest(cleanup, address, "/grpchantesting.TestService/Unary", headers, body);
    let headerStatus: Record<string, string | string[] | undefined> = {};
    stream.on("response", (h) => (headerStatus = h));
    const trailers = await new Promise<Record<string, string | string[] | undefined>>((resolve) => {
      stream.on("trailers", resolve);
      stream.on("close", () => resolve(headerStatus));
      stream.resume();
    });
    return { status: String(trailers["grpc-status"]), message: String(trailers["grpc-message"]) };
  }

  const envelope = (flags: number, length: number, data = Buffer.alloc(0)) => {
    const header = Buffer.alloc(5);
    header[0] = flags;
    header.writeUInt32BE(length, 1);
    return Buffer.concat([header, data]);
  };

  it("an oversize message is RESOURCE_EXHAUSTED before it is buffered; compressed ones UNIMPLEMENTED; a cut body INVALID_ARGUMENT", async () => {
    const { hub, address } = await startGateway(cleanup, { maxMessageBytes: 1024 });
    await connectAgent(cleanup, hub, { name: "camera-3" });
    const key = { "tunnel-key": "camera-3" };
    const oversize = await rawCall(address, key, envelope(0, 1_000_000, Buffer.alloc(2048)));
    expect(oversize.status).toBe(String(grpc.status.RESOURCE_EXHAUSTED));
    expect(decodeURIComponent(oversize.message!)).toMatch(/1000000 bytes exceeds the gateway's limit of 1024 bytes/);
    const compressed = await rawCall(address, key, envelope(1, 3, Buffer.from("abc")));
    expect(compressed.status).toBe(String(grpc.status.UNIMPLEMENTED));
    const cut = await rawCall(address, key, envelope(0, 100, Buffer.alloc(10)));
    expect(cut.status).toBe(String(grpc.status.INVALID_ARGUMENT));
    const badTimeout = await rawCall(address, { ...key, "grpc-timeout": "soon" }, envelope(0, 0));
    expect(badTimeout.status).toBe(String(grpc.status.INVALID_ARGUMENT));
    const fine = await rawCall(address, key, envelope(0, 0));
    expect(fine.status).toBe(String(grpc.status.OK));
  });

  it("a request that is not gRPC gets HTTP 415 on the gRPC port", async () => {
    const { address } = await startGateway(cleanup);
    const session = connect(`http://${address}`);
    cleanup.add(() => session.close());
    const stream = session.request({ ":method": "GET", ":path": "/" });
    stream.end();
    const status = await new Promise((resolve) => stream.on("response", (h) => resolve(h[constants.HTTP2_HEADER_STATUS])));
    stream.resume();
    expect(status).toBe(415);
  });
});
