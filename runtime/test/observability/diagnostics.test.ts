import { randomUUID } from "node:crypto";
import * as diagnosticsChannel from "node:diagnostics_channel";
import { create, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { MessageSchema, TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { Code, createTunnelClient, TunnelError, type ServiceImpl } from "../../src/index.js";
import { DIAGNOSTICS_CHANNELS } from "../../src/protocol.js";
import type { CallEndEvent, TunnelCloseEvent } from "../../src/protocol.js";
import { outline, recordDiagnostics, taggedWith, type Recorded } from "../support/diagnostics.js";
import { forwardFixture, fromArray } from "../support/forward-fixture.js";
import { connectAgent, startAgent, startHub } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const UNARY = "/grpchantesting.TestService/Unary";
const CLIENT_STREAM = "/grpchantesting.TestService/ClientStream";
const SERVER_STREAM = "/grpchantesting.TestService/ServerStream";
const BIDI = "/grpchantesting.TestService/BidiStream";

/** Serialized size of a TestService message: what the byte counters must report. */
function size(init: MessageInitShape<typeof MessageSchema>): number {
  return toBinary(MessageSchema, create(MessageSchema, init)).length;
}

/** Responses of a size the request decides; a bidi call that stays open until cancelled. */
const sizedService: Partial<ServiceImpl<typeof TestService>> = {
  unary: (req) => ({ payload: new Uint8Array(req.count).fill(1) }),
  async clientStream(requests) {
    let count = 0;
    for await (const req of requests) {
      count += req.payload.length;
    }
    return { count };
  },
  async *serverStream(req) {
    for (let i = 0; i < req.count; i++) {
      yield { payload: req.payload };
    }
  },
  async *bidiStream(_requests, ctx) {
    yield { count: 1 };
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
  },
};

/** A successful call's events on both ends, in the one order they can happen in one process. */
function oneCallInOrder(method: string): string[] {
  return [`client call:start ${method}`, `server call:start ${method}`, `server call:end ${method} 0`, `client call:end ${method} 0`];
}

function endOf(log: Recorded[], role: "client" | "server", method: string): CallEndEvent {
  const found = log.find((i) => i.kind === "call:end" && i.tunnel.role === role && i.event.call.method === method);
  if (found?.kind !== "call:end") {
    throw new Error(`no ${role} call:end for ${method}`);
  }
  return found.event;
}

function closeOf(log: Recorded[], role: "client" | "server"): TunnelCloseEvent {
  const found = log.find((i) => i.kind === "tunnel:close" && i.tunnel.role === role);
  if (found?.kind !== "tunnel:close") {
    throw new Error(`no ${role} tunnel:close`);
  }
  return found.event;
}

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("diagnostics channels: forward tunnels", () => {
  async function fixture() {
    const mark = randomUUID();
    const log = recordDiagnostics(cleanup, taggedWith("test-run", mark));
    const setup = await forwardFixture(cleanup, { impl: sizedService, tunnel: { metadata: { "test-run": mark } } });
    await log.waitForCount(2, (i) => i.kind === "tunnel:open");
    return { ...setup, log, client: createTunnelClient(TestService, setup.tunnel) };
  }

  it("announces the tunnel on both ends, then a unary call in order, with the bytes that were sent", async () => {
    const { log, client, handler, tunnel } = await fixture();
    const opens = log.items.filter((i) => i.kind === "tunnel:open");
    expect(opens.map(outline).sort()).toEqual(["client tunnel:open forward", "server tunnel:open forward"]);
    for (const { tunnel: info } of opens) {
      expect(info.protocolRevision === undefined || info.protocolRevision === 1).toBe(true);
      expect(info.peer).toMatch(/127\.0\.0\.1:\d+$/);
      expect(info.affinityKey).toBeUndefined();
      expect(info.closed).toBe(false);
    }

    const request = { payload: new Uint8Array(300).fill(2), count: 1000 };
    const response = await client.unary(request);
    expect(response.payload.length).toBe(1000);

    const calls = log.items.filter((i) => i.kind.startsWith("call:"));
    expect(calls.map(outline)).toEqual(oneCallInOrder(UNARY));
    const clientEnd = endOf(calls, "client", UNARY);
    const serverEnd = endOf(calls, "server", UNARY);
    expect(clientEnd.bytesSent).toBe(size(request));
    expect(serverEnd.bytesReceived).toBe(size(request));
    expect(serverEnd.bytesSent).toBe(size({ payload: new Uint8Array(1000).fill(1) }));
    expect(clientEnd.bytesReceived).toBe(serverEnd.bytesSent);
    expect(clientEnd.error).toBeUndefined();
    // The client's call started before and ended after the server's.
    expect(clientEnd.durationMs).toBeGreaterThanOrEqual(serverEnd.durationMs);
    expect(serverEnd.durationMs).toBeGreaterThan(0);
    // One CallInfo per call, the same object in its start and end events.
    const clientStart = calls[0]!.kind === "call:start" ? calls[0]!.event : undefined;
    expect(clientStart?.call).toBe(clientEnd.call);
    expect(clientEnd.call.streamId).toBe(1n);
    expect(clientEnd.call.tunnel.bytesSent).toBe(size(request));

    const [serverInfo] = handler.listTunnels();
    expect(serverInfo).toBe(serverEnd.call.tunnel);
    expect(serverInfo!.protocolRevision).toBe(1);
    expect(serverInfo!.bytesReceived).toBe(size(request));
    expect(serverInfo!.bytesSent).toBe(serverEnd.bytesSent);
    expect(serverInfo!.activeCalls).toBe(0);
    expect(tunnel.activeCalls).toBe(0);
  });

  it("counts every chunk of messages larger than a chunk, in both directions", async () => {
    const { log, client } = await fixture();
    const requests = [new Uint8Array(40_000), new Uint8Array(1), new Uint8Array(0)].map((payload) => ({ payload }));
    const sum = await client.clientStream(fromArray(requests));
    expect(sum.count).toBe(40_001);
    const streamed = { payload: new Uint8Array(20_000).fill(3), count: 5 };
    let received = 0;
    for await (const res of client.serverStream(streamed)) {
      received += size(res);
    }
    const sent = requests.reduce((total, r) => total + size(r), 0);
    expect(endOf(log.items, "client", CLIENT_STREAM).bytesSent).toBe(sent);
    expect(endOf(log.items, "server", CLIENT_STREAM).bytesReceived).toBe(sent);
    expect(endOf(log.items, "server", CLIENT_STREAM).bytesSent).toBe(size({ count: 40_001 }));
    expect(endOf(log.items, "server", SERVER_STREAM).bytesSent).toBe(5 * size({ payload: streamed.payload }));
    expect(endOf(log.items, "client", SERVER_STREAM).bytesReceived).toBe(received);
    expect(received).toBe(5 * size({ payload: streamed.payload }));
  });

  it("reports a failed call's code and error", async () => {
    const mark = randomUUID();
    const log = recordDiagnostics(cleanup, taggedWith("test-run", mark));
    const { tunnel } = await forwardFixture(cleanup, { tunnel: { metadata: { "test-run": mark } } }); // the interop TestService
    await expect(createTunnelClient(TestService, tunnel).unary({ code: Code.NOT_FOUND })).rejects.toMatchObject({ code: Code.NOT_FOUND });
    const clientEnd = endOf(log.items, "client", UNARY);
    const serverEnd = endOf(log.items, "server", UNARY);
    expect(clientEnd.code).toBe(Code.NOT_FOUND);
    expect(clientEnd.error).toBeInstanceOf(TunnelError);
    expect(clientEnd.error?.code).toBe(Code.NOT_FOUND);
    expect(serverEnd.code).toBe(Code.NOT_FOUND);
    expect(serverEnd.bytesSent).toBe(0);
    expect(clientEnd.bytesSent).toBe(size({ code: Code.NOT_FOUND }));
  });

  it("ends running calls before the tunnel, on both ends, when the client closes it", async () => {
    const { log, client, tunnel, handler } = await fixture();
    const responses = client.bidiStream(fromArray([{}]))[Symbol.asyncIterator]();
    await responses.next();
    tunnel.close();
    await log.waitForCount(2, (i) => i.kind === "tunnel:close");
    const lines = log.items.map(outline);
    const clientSide = lines.filter((l) => l.startsWith("client") && !l.includes("tunnel:open"));
    const serverSide = lines.filter((l) => l.startsWith("server") && !l.includes("tunnel:open"));
    expect(clientSide).toEqual([`client call:start ${BIDI}`, `client call:end ${BIDI} ${Code.CANCELLED}`, "client tunnel:close closed"]);
    expect(serverSide).toEqual([
      `server call:start ${BIDI}`,
      `server call:end ${BIDI} ${Code.CANCELLED}`,
      "server tunnel:close peer-closed",
    ]);
    const closed = closeOf(log.items, "client");
    expect(closed.error).toBeUndefined();
    expect(closed.durationMs).toBeGreaterThan(0);
    expect(closed.tunnel.closed).toBe(true);
    expect(closeOf(log.items, "server").tunnel.bytesSent).toBe(size({ count: 1 }));
    expect(handler.listTunnels()).toEqual([]);
  });

  it("reports a broken tunnel as failed, after failing its calls with UNAVAILABLE", async () => {
    const { log, client, server } = await fixture();
    const responses = client.bidiStream(fromArray([{}]))[Symbol.asyncIterator]();
    await responses.next();
    server.kill();
    await log.waitForCount(2, (i) => i.kind === "tunnel:close");
    const clientSide = log.items.filter((i) => i.tunnel.role === "client" && i.kind !== "tunnel:open").map(outline);
    expect(clientSide).toEqual([`client call:start ${BIDI}`, `client call:end ${BIDI} ${Code.UNAVAILABLE}`, "client tunnel:close failed"]);
    expect(closeOf(log.items, "client").error).toBeInstanceOf(TunnelError); // the tunnel RPC's own status
    expect(closeOf(log.items, "server").reason).toBe("failed");
  });

  it("builds no payload while nobody subscribes", async () => {
    const { tunnel } = await forwardFixture(cleanup, { impl: sizedService });
    for (const name of Object.values(DIAGNOSTICS_CHANNELS)) {
      expect(diagnosticsChannel.hasSubscribers(name), name).toBe(false);
    }
    const stream = tunnel.startCall(UNARY);
    await stream.send(toBinary(MessageSchema, create(MessageSchema, { count: 3 })));
    stream.closeSend();
    expect(await stream.read()).toBeDefined();
    expect((await stream.done).error).toBeUndefined();
    expect((stream as unknown as { callInfo: unknown }).callInfo).toBeUndefined();
  });
});

describe("diagnostics channels: reverse tunnels", () => {
  it("announces the tunnel with its affinity key on the network server, and its calls on both ends", async () => {
    const mark = randomUUID();
    const log = recordDiagnostics(cleanup, taggedWith("test-run", mark));
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "camera-3", serve: { metadata: { "test-run": mark } } });
    await log.waitForCount(2, (i) => i.kind === "tunnel:open");
    const hubOpen = log.items.find((i) => i.kind === "tunnel:open" && i.tunnel.role === "client")!.tunnel;
    expect(hubOpen.direction).toBe("reverse");
    expect(hubOpen.affinityKey).toBe("camera-3");
    expect(hubOpen.protocolRevision).toBe(1);
    const agentOpen = log.items.find((i) => i.kind === "tunnel:open" && i.tunnel.role === "server")!.tunnel;
    expect(agentOpen.direction).toBe("reverse");
    expect(agentOpen.affinityKey).toBeUndefined();
    expect(hub.handler.listTunnels()).toEqual([hubOpen]);
    expect(agent.rts.listTunnels()).toEqual([agentOpen]);

    const request = { payload: new Uint8Array(5000).fill(9) };
    await createTunnelClient(TestService, hub.handler.keyAsChannel("camera-3")).unary(request);
    const calls = log.items.filter((i) => i.kind.startsWith("call:"));
    expect(calls.map(outline)).toEqual(oneCallInOrder(UNARY));
    expect(endOf(calls, "client", UNARY).bytesSent).toBe(size(request));
    expect(endOf(calls, "server", UNARY).bytesReceived).toBe(size(request));
    expect(endOf(calls, "client", UNARY).bytesReceived).toBe(endOf(calls, "server", UNARY).bytesSent);
    expect(hubOpen.bytesSent).toBe(size(request));
    expect(agentOpen.bytesReceived).toBe(size(request));

    agent.rts.stop();
    await log.waitForCount(2, (i) => i.kind === "tunnel:close");
    expect(closeOf(log.items, "server").reason).toBe("closed");
    expect(closeOf(log.items, "client").reason).toBe("peer-closed");
    expect(hub.handler.listTunnels()).toEqual([]);
    expect(agent.rts.listTunnels()).toEqual([]);
  });

  it("never announces a tunnel that was refused before it opened", async () => {
    const mark = randomUUID();
    const log = recordDiagnostics(cleanup, taggedWith("test-run", mark));
    const hub = await startHub(cleanup, {
      affinityKey: () => {
        throw new TunnelError(Code.UNAUTHENTICATED, "who are you?");
      },
    });
    const agent = startAgent(cleanup, hub.address, { name: "stranger", serve: { metadata: { "test-run": mark } } });
    const result = await agent.serving;
    expect(result).toMatchObject({ started: false, error: { code: Code.UNAUTHENTICATED } });
    // A tunnel that does open afterwards is seen: nothing was lost in between.
    const accepted = await startHub(cleanup);
    await connectAgent(cleanup, accepted, { name: "friend", serve: { metadata: { "test-run": mark } } });
    await log.waitForCount(2, (i) => i.kind === "tunnel:open");
    expect(log.items.map((i) => i.tunnel.metadata.get("agent-name")[0])).toEqual(["friend", "friend"]);
  });
});
