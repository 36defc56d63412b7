// Stale routes and draining replicas: a replica the directory names but that
// cannot take the call refuses it before any handler (no headers), and the
// caller's replica routes it again; a call a handler may have seen is never
// retried; a draining replica withdraws its keys and refuses new relayed
// calls while its running ones finish.
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, openTunnel, serverStreamCall, TunnelError, unaryCall } from "../../src/index.js";
import { methodPath, tunnelServiceDefinition } from "../../src/protocol.js";
import { RELAY_KEY_HEADER, RELAY_SECRET_HEADER } from "../../src/cluster.js";
import { type ClusterFixture, clusterPerTest } from "../support/cluster.js";
import { s2c } from "../support/frames.js";
import type { ClientToServer, ServerToClient } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { outcome } from "../support/events.js";
import { deferred } from "../../src/deferred.js";
import { connectAgent, drain, Gate, servedBy } from "../support/reverse.js";
import { gatedAgentOnB, parkBusyAgent, startReplica, TEST_SECRET } from "../support/replicas.js";
import { Cleanup, startServer, tunnelClient } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const relayKey = (key: string) => ({ [RELAY_KEY_HEADER]: Buffer.from(key) });

/**
 * A fake owner of key "F": a relay listener that takes one tunnel and, at
 * the first frame of its first call, does `onCall` (answer, end the tunnel).
 * Resolves `sawCall` then.
 */
async function fakeOwner(
  c: ClusterFixture,
  name: string,
  onCall: (call: grpc.ServerDuplexStream<unknown, ServerToClient>, frame: ClientToServer) => void,
) {
  const sawCall = deferred<void>();
  const server = await startServer((s) =>
    s.addService(tunnelServiceDefinition, {
      openTunnel: (call: grpc.ServerDuplexStream<ClientToServer, ServerToClient>) => {
        call.sendMetadata(new grpc.Metadata()); // no negotiation: the first frame is the call's NewStream
        call.once("data", (frame: ClientToServer) => {
          onCall(call, frame);
          sawCall.resolve();
        });
        call.on("error", () => {});
      },
      openReverseTunnel: () => {},
    }),
  );
  cleanup.add(() => server.kill());
  const directory = await c.replica(name, { address: server.address });
  directory.register("F");
  await directory.flush();
  return { directory, sawCall: sawCall.promise };
}

describe("stale routes", () => {
  it("a replica named for a key it does not hold refuses the call; it is routed again to the holder, unseen by the caller", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const holder = await startReplica(cleanup, c, "c");
    b.cluster.directory.register("K"); // stale: b holds no tunnel for K
    await b.cluster.directory.flush();

    // b is the only route: it refuses, and without another holder the call fails naming it.
    const alone = await outcome(unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}));
    expect(alone.ok || alone.error).toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: 'no reverse tunnel for key "K" on any replica (replica b refused it)',
    });

    // A waiting call is refused by b first (the only route), then finds the key on c.
    const waiting = unaryCall(
      a.handler.keyAsChannel("K"),
      TestService.method.unary,
      { payload: new Uint8Array([1]) },
      { waitForReady: true, timeoutMs: 10_000 },
    );
    await connectAgent(cleanup, holder, { name: "agent-c", key: "K" });
    expect(servedBy(await waiting)).toBe("agent-c");

    // With both routes known, calls routed to b first are refused and re-routed: every one succeeds.
    await holder.cluster.directory.flush();
    expect(await c.holders("K")).toEqual(["b", "c"]);
    for (let i = 0; i < 20; i++) {
      const res = await unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, { payload: new Uint8Array([i]) });
      expect(servedBy(res)).toBe("agent-c");
      expect(res.payload).toEqual(new Uint8Array([i]));
    }
  });

  it("a call the holder's own tunnel refuses (at its stream limit) is refused on, unseen: it is routed to another holder", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const d = await startReplica(cleanup, c, "d");
    const { gate, parked } = await parkBusyAgent(cleanup, b, "K"); // b's only tunnel for K refuses (RESOURCE_EXHAUSTED)
    await connectAgent(cleanup, d, { name: "free", key: "K" });
    await Promise.all([b.cluster.directory.flush(), d.cluster.directory.flush()]);
    for (let i = 0; i < 20; i++) {
      expect(servedBy(await unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}))).toBe("free");
    }
    gate.release();
    expect(await parked).toHaveLength(1);
  });

  it("a call a handler may have seen is never retried, even with UNAVAILABLE", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const d = await startReplica(cleanup, c, "d");
    let failedOnB = 0;
    let servedOnD = 0;
    await connectAgent(cleanup, b, {
      name: "agent-b",
      key: "K",
      impl: {
        unary: async () => {
          failedOnB++;
          throw new TunnelError(Code.UNAVAILABLE, "handler says no");
        },
      },
    });
    await connectAgent(cleanup, d, { name: "agent-d", key: "K", impl: { unary: async () => ({ count: ++servedOnD }) } });
    await Promise.all([b.cluster.directory.flush(), d.cluster.directory.flush()]);
    let failures = 0;
    for (let i = 0; i < 20; i++) {
      const res = await outcome(unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}));
      if (!res.ok) {
        failures++;
        expect(res.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "handler says no" });
      }
    }
    expect(failures).toBe(failedOnB); // each failed call ran once, on b, and went nowhere else
    expect(servedOnD).toBe(20 - failures);
    expect(failures).toBeGreaterThan(0);
  });

  it("a replica whose relay cannot be reached is skipped; when none is left the error names it", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const d = await startReplica(cleanup, c, "d");
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    await connectAgent(cleanup, d, { name: "agent-d", key: "K" });
    await Promise.all([b.cluster.directory.flush(), d.cluster.directory.flush()]);
    b.relay.kill(); // b's directory entry lives on, its relay is gone
    for (let i = 0; i < 10; i++) {
      expect(servedBy(await unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}))).toBe("agent-d");
    }
    d.relay.kill();
    // A replica with no relay tunnel open yet finds neither reachable.
    const e = await startReplica(cleanup, c, "e");
    const none = await outcome(unaryCall(e.handler.keyAsChannel("K"), TestService.method.unary, {}));
    expect(none.ok).toBe(false);
    expect((none as { error: TunnelError }).error.code).toBe(Code.UNAVAILABLE);
    expect((none as { error: TunnelError }).error.rawMessage).toMatch(
      /^no reverse tunnel for key "K" on any replica \(replica (b|d) unreachable: relay at .*; replica (b|d) unreachable: relay at /,
    );
  });

  it("a relay tunnel the owner ends cleanly before answering a call: the call was unseen and is routed again; an error end is final", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const holder = await startReplica(cleanup, c, "holder");
    const clean = await fakeOwner(c, "clean", (call) => call.end());
    const waiting = unaryCall(a.handler.keyAsChannel("F"), TestService.method.unary, {}, { waitForReady: true, timeoutMs: 10_000 });
    await clean.sawCall; // the only route so far: the call went there first
    await connectAgent(cleanup, holder, { name: "agent-holder", key: "F" });
    expect(servedBy(await waiting)).toBe("agent-holder");
    await clean.directory.close();
    holder.handler.closeReverseTunnels("F");
    await holder.closedTunnelOf("agent-holder");
    await holder.cluster.directory.flush();

    await fakeOwner(c, "broken", (call) => call.emit("error", { code: Code.UNAVAILABLE, details: "owner crashed" }));
    const broken = await outcome(unaryCall(a.handler.keyAsChannel("F"), TestService.method.unary, {}, { timeoutMs: 5_000 }));
    expect(broken.ok || broken.error).toMatchObject({ code: Code.UNAVAILABLE });
    expect((broken as { error: TunnelError }).error.rawMessage).toMatch(/owner crashed/);
  });

  it("a call the owner answered with headers is never routed again, even when the owner then ends its tunnel cleanly", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const holder = await startReplica(cleanup, c, "holder");
    const answered = await fakeOwner(c, "answered", (call, frame) => {
      call.write(s2c.headers(frame.streamId, { "x-answered": "yes" })); // a handler saw the call
      call.end();
    });
    const waiting = outcome(
      unaryCall(a.handler.keyAsChannel("F"), TestService.method.unary, {}, { waitForReady: true, timeoutMs: 10_000 }),
    );
    await answered.sawCall;
    await connectAgent(cleanup, holder, { name: "agent-holder", key: "F" }); // somewhere it could go, were it unseen
    const result = await waiting;
    expect(result.ok || result.error).toMatchObject({ code: Code.UNAVAILABLE });
  });
});

describe("a draining replica", () => {
  it("leaving the cluster ends its relay tunnels at once: a relayed call running there fails UNAVAILABLE", async () => {
    const { a, b, gate } = await gatedAgentOnB(cleanup, newCluster());
    const running = outcome(drain(serverStreamCall(a.handler.keyAsChannel("K"), TestService.method.serverStream, { count: 2 })));
    await gate.entered.promise;
    await b.cluster.close();
    const result = await running;
    expect(result.ok || result.error).toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: expect.stringMatching(/replica left the cluster/),
    });
    gate.release();
  });

  it("refuses a new relay tunnel with UNAVAILABLE from the moment it begins draining (strangers still get UNAUTHENTICATED)", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    const client = tunnelClient(b.relay.address);
    cleanup.add(() => client.close());
    const withSecret = { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } };
    const before = await openTunnel(client, withSecret);
    before.close();
    await before.done;

    const drained = b.handler.drain({ graceMs: 10_000 });
    await expect(openTunnel(client, withSecret)).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "replica is shutting down" });
    await expect(openTunnel(client)).rejects.toMatchObject({ code: Code.UNAUTHENTICATED });
    await drained;
    await expect(openTunnel(client, withSecret)).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "replica is shutting down" });
  });

  it("withdraws its keys at once, refuses new relayed calls without headers, lets running ones finish, and ends its relay tunnels", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const d = await startReplica(cleanup, c, "d");
    const gates = { K: new Gate(), K2: new Gate() };
    await connectAgent(cleanup, b, { name: "agent-b", key: "K", impl: { serverStream: gates.K.serverStream } });
    await connectAgent(cleanup, b, { name: "agent-b2", key: "K2", impl: { serverStream: gates.K2.serverStream } });
    await b.cluster.directory.flush();

    // Two relayed calls run on b: one from replica a, one on a relay tunnel opened by hand.
    const fromA = drain(serverStreamCall(a.handler.keyAsChannel("K"), TestService.method.serverStream, { count: 3 }));
    const raw = await openTunnel(tunnelClient(b.relay.address), { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } });
    cleanup.add(() => raw.close());
    const byHand = drain(serverStreamCall(raw, TestService.method.serverStream, { count: 2 }, { metadata: relayKey("K2") }));
    await Promise.all([gates.K.entered.promise, gates.K2.entered.promise]);
    await connectAgent(cleanup, d, { name: "agent-d", key: "K" });
    await d.cluster.directory.flush();

    const stopped = new Promise<void>((resolve) => b.relay.server.tryShutdown(() => resolve()));
    const drained = b.handler.drain({ graceMs: 10_000 });
    await b.cluster.directory.flush();
    expect(await c.holders("K")).toEqual(["d"]);
    expect(await c.holders("K2")).toEqual([]);

    // New calls for K go to d; a new call on b's relay tunnel is refused without headers.
    expect(servedBy(await unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}))).toBe("agent-d");
    const headers: grpc.Metadata[] = [];
    const refused = raw.startCall(methodPath(TestService.method.unary), { metadata: relayKey("K2"), onHeader: (h) => headers.push(h) });
    refused.closeSend();
    const end = await refused.done;
    expect(end).toMatchObject({ refused: true, error: { code: Code.UNAVAILABLE, rawMessage: "server is shutting down" } });
    expect(headers.map((h) => Object.keys(h.getMap()).length)).toEqual([0]);

    // The running relayed calls finish with every message; then b's relay tunnels end cleanly and its servers stop.
    gates.K.release();
    gates.K2.release();
    expect((await fromA).map((r) => r.count)).toEqual([0, 1, 2]);
    expect((await byHand).map((r) => r.count)).toEqual([0, 1]);
    await drained;
    await stopped;
    expect((await raw.done).error).toBeUndefined();
  });
});
