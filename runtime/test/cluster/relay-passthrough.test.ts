// What a relayed call carries back from the agent to the caller: the
// agent's response headers (sent when the agent sends them, not held for
// the first message), its trailers, its status with details; and which
// replica served it — in the headers, or in the trailers of a
// trailers-only answer, never in both.
import type { Metadata } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { ErrorInfoSchema } from "../../src/errordetails.js";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { RELAY_SECRET_HEADER, SERVED_BY_HEADER } from "../../src/cluster.js";
import { RelayListener } from "../../src/cluster/relay/index.js";
import { resolveLimits } from "../../src/engine/limits.js";
import { Code, clientStreamCall, openTunnel, serverStreamCall, subscribeDiagnostics, TunnelError, unaryCall } from "../../src/index.js";
import type { TunnelOpenEvent } from "../../src/protocol.js";
import { deferred } from "../../src/deferred.js";
import { clusterPerTest } from "../support/cluster.js";
import { outcome } from "../support/events.js";
import { type AgentOptions, connectAgent, drain, requests } from "../support/reverse.js";
import { startReplica, TEST_SECRET } from "../support/replicas.js";
import { Cleanup, startServer, tunnelClient } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const errorInfo = anyPack(ErrorInfoSchema, create(ErrorInfoSchema, { reason: "AGENT_SAYS_NO", domain: "test.example" }));

/** Replica "a" and replica "b", with an agent for key "K" on b serving `impl`: calls from a are relayed to b. */
async function relayedAgent(impl: AgentOptions["impl"]) {
  const c = newCluster();
  const a = await startReplica(cleanup, c, "a");
  const b = await startReplica(cleanup, c, "b");
  await connectAgent(cleanup, b, { name: "agent-b", key: "K", impl });
  await b.cluster.directory.flush();
  return a.handler.keyAsChannel("K");
}

/** A unary call's headers, trailers and error (if it failed). */
async function unaryOutcome(channel: Parameters<typeof unaryCall>[0]) {
  const seen: { headers?: Metadata; trailers?: Metadata; error?: TunnelError } = {};
  const result = await outcome(
    unaryCall(channel, TestService.method.unary, {}, { onHeader: (h) => (seen.headers = h), onTrailer: (t) => (seen.trailers = t) }),
  );
  if (!result.ok) seen.error = TunnelError.from(result.error);
  return seen;
}

describe("a relayed call's answer", () => {
  it("carries the agent's headers and trailers; the serving replica is named in the headers only", async () => {
    const channel = await relayedAgent({
      unary: async (_req, ctx) => {
        ctx.responseHeaders.set("x-agent-header", "h");
        ctx.responseTrailers.set("x-agent-trailer", "t");
        return {};
      },
    });
    const seen = await unaryOutcome(channel);
    expect(seen.error).toBeUndefined();
    expect(seen.headers?.get("x-agent-header")).toEqual(["h"]);
    expect(seen.headers?.get(SERVED_BY_HEADER)).toEqual(["b"]);
    expect(seen.trailers?.get("x-agent-trailer")).toEqual(["t"]);
    expect(seen.trailers?.get(SERVED_BY_HEADER)).toEqual([]);
  });

  it("an error after headers keeps its code, message, details and trailers; the replica is named in the headers only", async () => {
    const channel = await relayedAgent({
      unary: async (_req, ctx) => {
        ctx.sendHeaders();
        ctx.responseTrailers.set("x-agent-trailer", "t");
        throw new TunnelError(Code.FAILED_PRECONDITION, "agent says no", { details: [errorInfo] });
      },
    });
    const seen = await unaryOutcome(channel);
    expect(seen.error).toMatchObject({ code: Code.FAILED_PRECONDITION, rawMessage: "agent says no" });
    expect(seen.error?.findDetails(ErrorInfoSchema).map((d) => d.reason)).toEqual(["AGENT_SAYS_NO"]);
    expect(seen.headers?.get(SERVED_BY_HEADER)).toEqual(["b"]);
    expect(seen.trailers?.get("x-agent-trailer")).toEqual(["t"]);
    expect(seen.trailers?.get(SERVED_BY_HEADER)).toEqual([]);
  });

  it("a call the agent refuses before any header (a method it lacks) names the replica in its trailers only", async () => {
    const channel = await relayedAgent({});
    const headers: Metadata[] = [];
    const call = channel.startCall("/no.Such/Method", { onHeader: (h) => headers.push(h) });
    call.closeSend();
    const end = await call.done;
    expect(end.error).toMatchObject({ code: Code.UNIMPLEMENTED });
    expect(end.trailers.get(SERVED_BY_HEADER)).toEqual(["b"]);
    expect(headers.flatMap((h) => h.get(SERVED_BY_HEADER))).toEqual([]);
  });

  it("headers the agent sends before any message reach the caller while the agent still holds its messages back", async () => {
    const release = deferred<void>();
    const channel = await relayedAgent({
      serverStream: async function* (_req, ctx) {
        ctx.responseHeaders.set("x-early", "yes");
        ctx.sendHeaders();
        await release.promise;
        yield { count: 7 };
      },
    });
    const headers = deferred<Metadata>();
    const responses = drain(
      serverStreamCall(channel, TestService.method.serverStream, { count: 1 }, { onHeader: (h) => headers.resolve(h) }),
    );
    const early = await headers.promise; // before release: the relay did not hold them for the first message
    expect(early.get("x-early")).toEqual(["yes"]);
    expect(early.get(SERVED_BY_HEADER)).toEqual(["b"]);
    release.resolve();
    expect((await responses).map((r) => r.count)).toEqual([7]);
  });

  it("carries more than the tunnels' windows each way, every byte in order (the relay tunnel runs flow control)", async () => {
    const size = 16 * 1024;
    const channel = await relayedAgent({
      clientStream: async (requests) => {
        let bytes = 0;
        let inOrder = true;
        let next = 0;
        for await (const req of requests) {
          inOrder &&= req.count === next++ && req.payload.every((b) => b === req.count % 256);
          bytes += req.payload.length;
        }
        return { count: inOrder ? bytes : -1 };
      },
    });
    const sent = await clientStreamCall(channel, TestService.method.clientStream, requests(64, size), { timeoutMs: 20_000 });
    expect(sent.count).toBe(64 * size);
    const payload = new Uint8Array(size).fill(7);
    const received = await drain(serverStreamCall(channel, TestService.method.serverStream, { count: 64, payload }, { timeoutMs: 20_000 }));
    expect(received).toHaveLength(64);
    expect(received.every((r) => r.payload.length === size && r.payload.every((b) => b === 7))).toBe(true);
  }, 30_000);
});

describe("the relay listener", () => {
  it("speaks protocol revision 1 on each relay tunnel it accepts, and announces it to diagnostics as the tunnel server", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    const opened: TunnelOpenEvent[] = [];
    cleanup.add(subscribeDiagnostics({ tunnelOpen: (event) => opened.push(event) }));
    const client = tunnelClient(b.relay.address);
    cleanup.add(() => client.close());
    const tunnel = await openTunnel(client, { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } });
    cleanup.add(() => tunnel.close());
    expect(tunnel.protocolRevision).toBe(1); // per-stream flow control, end to end with the agent's tunnel
    await expect.poll(() => opened.filter((event) => event.tunnel.role === "server").length).toBe(1);
  });

  it("a relay tunnel with a call still running when the listener's drain grace period ends fails UNAVAILABLE saying so", async () => {
    const relay = new RelayListener(TEST_SECRET);
    const accepted = deferred<void>();
    relay.serve({
      limits: resolveLimits(undefined),
      calls: (stream) => {
        accepted.resolve();
        return new Promise<void>((resolve) => stream.whenAborted(() => resolve())); // never answers
      },
    });
    const server = await startServer((s) => s.addService(...relay.service()));
    cleanup.add(() => server.kill());
    cleanup.add(() => relay.close());
    const client = tunnelClient(server.address);
    cleanup.add(() => client.close());
    const tunnel = await openTunnel(client, { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } });
    tunnel.startCall("/test.Held/Call").closeSend();
    await accepted.promise;
    const drained = relay.drain(50);
    expect((await tunnel.done).error).toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: expect.stringMatching(/replica is shutting down \(grace period of 50 ms over\)/),
    });
    await drained;
  });
});
