// Per-call waitForReady on reverse channels: a call for a key no agent holds
// yet waits (within its deadline and signal) for one instead of failing, and
// keeps waiting through refusals; requests sent meanwhile are delivered.
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { grpcServiceDefinition, MessageSchema, TestService, type Message } from "@protoc-gen-tunnel/interop";
import { Code, clientStreamCall, grpcChannel, serverStreamCall, TunnelError, unaryCall } from "../src/index.js";
import { methodPath } from "../src/protocol.js";
import { outcome, timed } from "./support/events.js";
import { connectAgent, drain, Gate, requests, servedBy, startAgent, startHub } from "./support/reverse.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("per-call waitForReady on reverse channels", () => {
  it("a call waits for the key's first agent; requests sent meanwhile and the half-close reach it", async () => {
    const hub = await startHub(cleanup);
    const channel = hub.handler.keyAsChannel("A");
    const unary = unaryCall(channel, TestService.method.unary, { payload: new Uint8Array([7]) }, { waitForReady: true, timeoutMs: 10_000 });
    const streamed = clientStreamCall(channel, TestService.method.clientStream, requests(3, 100), {
      waitForReady: true,
      timeoutMs: 10_000,
    });
    let settled = false;
    void Promise.allSettled([unary, streamed]).then(() => (settled = true));
    expect(channel.ready()).toBe(false);
    expect(settled).toBe(false);

    await connectAgent(cleanup, hub, { name: "late", key: "A" });
    const [one, many] = await Promise.all([unary, streamed]);
    expect(servedBy(one)).toBe("late");
    expect(one.payload).toEqual(new Uint8Array([7]));
    expect(servedBy(many)).toBe("late");
    expect(many.count).toBe(3);
    expect(many.payload).toEqual(new Uint8Array(100).fill(2));
  });

  it("without waitForReady the same call fails at once with UNAVAILABLE naming the key", async () => {
    const hub = await startHub(cleanup);
    const res = await outcome(unaryCall(hub.handler.keyAsChannel("A"), TestService.method.unary, {}));
    expect(res.ok).toBe(false);
    expect(res.ok || res.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: 'no reverse tunnel for key "A"' });
  });

  it("the deadline and the signal end a waiting call: DEADLINE_EXCEEDED on time, CANCELLED at once", async () => {
    const hub = await startHub(cleanup);
    const channel = hub.handler.keyAsChannel("nobody");
    const late = await timed(unaryCall(channel, TestService.method.unary, {}, { waitForReady: true, timeoutMs: 200 }));
    expect(late.result.ok || late.result.error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(late.ms).toBeGreaterThanOrEqual(190);
    expect(late.ms).toBeLessThan(1_000);

    const controller = new AbortController();
    const pending = outcome(unaryCall(channel, TestService.method.unary, {}, { waitForReady: true, signal: controller.signal }));
    controller.abort(new TunnelError(Code.CANCELLED, "caller gave up"));
    expect(await pending).toMatchObject({ ok: false, error: { code: Code.CANCELLED, rawMessage: "caller gave up" } });

    // A raw stream reports the same end through done, and its headers (empty) before it.
    const headers: grpc.Metadata[] = [];
    const stream = channel.startCall(methodPath(TestService.method.unary), {
      waitForReady: true,
      timeoutMs: 50,
      onHeader: (h) => headers.push(h),
    });
    const end = await stream.done;
    expect(end.error?.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(headers).toHaveLength(1);
    expect(stream.closed).toBe(true);
    await expect(stream.read()).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
  });

  it("a waiting stream cancelled by its caller ends CANCELLED, with the reason given or a default one", async () => {
    const hub = await startHub(cleanup);
    const channel = hub.handler.keyAsChannel("nobody");
    const start = () => channel.startCall(methodPath(TestService.method.unary), { waitForReady: true, timeoutMs: 10_000 });
    const withReason = start();
    withReason.cancel(new TunnelError(Code.CANCELLED, "caller gave up"));
    expect((await withReason.done).error).toMatchObject({ code: Code.CANCELLED, rawMessage: "caller gave up" });
    await expect(withReason.read()).rejects.toMatchObject({ rawMessage: "caller gave up" });
    const plain = start();
    plain.cancel();
    expect((await plain.done).error).toMatchObject({ code: Code.CANCELLED, rawMessage: "call cancelled" });
    expect(plain.closed).toBe(true);
  });

  it("a waiting stream's requests and half-close wait with it; once it ended, sends reject with its end", async () => {
    const hub = await startHub(cleanup);
    const channel = hub.handler.keyAsChannel("A");
    const stream = channel.startCall(methodPath(TestService.method.clientStream), { waitForReady: true, timeoutMs: 10_000 });
    const sent = [1, 2].map((n) => stream.send(toBinary(MessageSchema, create(MessageSchema, { payload: new Uint8Array([n]) }))));
    stream.closeSend();
    stream.closeSend(); // twice is once
    await connectAgent(cleanup, hub, { name: "late", key: "A" });
    await Promise.all(sent);
    const reply = fromBinary(MessageSchema, (await stream.read())!);
    expect([reply.count, servedBy(reply)]).toEqual([2, "late"]);
    expect((await stream.done).error).toBeUndefined();

    const late = hub.handler.keyAsChannel("nobody").startCall(methodPath(TestService.method.unary), { waitForReady: true, timeoutMs: 50 });
    const ended = await late.done;
    expect(ended.error?.code).toBe(Code.DEADLINE_EXCEEDED);
    await expect(late.send(new Uint8Array())).rejects.toBe(ended.error);
  });

  it("an aborted signal fails the call at once, as without waitForReady", async () => {
    const hub = await startHub(cleanup);
    const signal = AbortSignal.abort(new TunnelError(Code.CANCELLED, "too late"));
    expect(() => hub.handler.keyAsChannel("A").startCall(methodPath(TestService.method.unary), { waitForReady: true, signal })).toThrow(
      /too late/,
    );
  });

  it("a call refused by an agent that stops waits for the agent to come back instead of failing", async () => {
    const hub = await startHub(cleanup);
    const gate = new Gate();
    const first = await connectAgent(cleanup, hub, { name: "first", key: "A", impl: { serverStream: gate.serverStream } });
    const parked = drain(serverStreamCall(first.tunnel, TestService.method.serverStream, { count: 2 }));
    await gate.entered.promise;
    const stopping = first.rts.gracefulStop(); // refuses new calls while the parked one runs

    const channel = hub.handler.keyAsChannel("A");
    const waiting = unaryCall(
      channel,
      TestService.method.unary,
      { payload: new Uint8Array([1]) },
      { waitForReady: true, timeoutMs: 10_000 },
    );
    const plain = outcome(unaryCall(channel, TestService.method.unary, {}));
    // The plain call is refused like the waiting one, and has nowhere else to go.
    expect(await plain).toMatchObject({ ok: false, error: { code: Code.UNAVAILABLE } });
    expect(first.tunnel.draining).toBe(true);

    startAgent(cleanup, hub.address, { name: "second", key: "A" });
    const res = await waiting;
    expect(servedBy(res)).toBe("second");
    gate.release();
    await parked;
    await stopping;
  });

  it("grpc-js clients ask for it with metadata.setOptions({ waitForReady: true })", async () => {
    const hub = await startHub(cleanup);
    const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(TestService), "TestService");
    const client = new Client("agents", grpc.credentials.createInsecure(), { channelOverride: grpcChannel(hub.handler.keyAsChannel("A")) });
    cleanup.add(() => client.close());
    const call = (wait: boolean) =>
      new Promise<Message>((resolve, reject) => {
        const metadata = new grpc.Metadata();
        metadata.setOptions({ waitForReady: wait });
        client.unary(
          { payload: new Uint8Array([3]) },
          metadata,
          { deadline: Date.now() + 10_000 },
          (err: grpc.ServiceError | null, res: Message) => (err ? reject(err) : resolve(res)),
        );
      });
    await expect(call(false)).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    const waiting = call(true);
    await connectAgent(cleanup, hub, { name: "agent", key: "A" });
    expect(servedBy(await waiting)).toBe("agent");
  });
});
