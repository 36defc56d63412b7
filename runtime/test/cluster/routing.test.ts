// Cluster routing with replicas in this process: local calls stay local,
// relayed calls reach the agent on another replica through every client
// shape (typed, grpc-js, Connect), asChannel stays local, waitForReady waits
// cluster-wide, and each replica publishes exactly the keys it holds.
import * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { grpcServiceDefinition, TestService, type Message } from "@protoc-gen-tunnel/interop";
import { Code, createTunnelClient, grpcChannel, serverStreamCall, TunnelServiceHandler, unaryCall } from "../../src/index.js";
import { tunnelTransport } from "../../src/connect.js";
import { joinCluster, RELAY_KEY_HEADER, type AffinityDirectory } from "../../src/cluster.js";
import { clusterPerTest, TEST_LEASE_MS, TEST_REFRESH_MS } from "../support/cluster.js";
import { outcome } from "../support/events.js";
import { agentName, connectAgent, drain, Gate, RecordingRegistry, servedBy, startAgent } from "../support/reverse.js";
import { startReplica, TEST_SECRET } from "../support/replicas.js";
import { Cleanup, startServer } from "../support/servers.js";
import { TcpProxy } from "../support/tcp-proxy.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : Buffer.from(value).toString("utf8"));

/** Two replicas; the agent of key "K" on b. */
async function twoReplicas() {
  const c = newCluster();
  const a = await startReplica(cleanup, c, "a");
  const b = await startReplica(cleanup, c, "b");
  await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
  await b.cluster.directory.flush();
  return { c, a, b };
}

describe("cluster routing", () => {
  it("a call for a key held by another replica is relayed to its agent with the caller's metadata; the relay key never reaches the agent", async () => {
    const { a } = await twoReplicas();
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const res = await unaryCall(
      a.handler.keyAsChannel("K"),
      TestService.method.unary,
      { payload: new Uint8Array([1, 2, 3]) },
      { metadata: { traceparent, "x-caller": "tester", "x-bytes-bin": new Uint8Array([0, 104, 105]) }, timeoutMs: 5_000 },
    );
    expect(servedBy(res)).toBe("agent-b");
    expect(res.payload).toEqual(new Uint8Array([1, 2, 3]));
    // TestService echoes the request metadata it saw.
    expect(text(res.headers.traceparent)).toBe(traceparent);
    expect(text(res.headers["x-caller"])).toBe("tester");
    expect(res.headers["x-bytes-bin"]).toEqual(new Uint8Array([0, 104, 105]));
    expect(Object.keys(res.headers)).not.toContain(RELAY_KEY_HEADER);
    expect(Object.keys(res.headers)).not.toContain("grpc-timeout");
  });

  it("calls for a key held here never ask the directory", async () => {
    const c = newCluster();
    const lookups: string[] = [];
    const relay = await startServer(() => {});
    cleanup.add(() => relay.kill());
    const directory = await c.replica("a", { address: relay.address });
    const counting: AffinityDirectory = Object.assign(Object.create(directory) as AffinityDirectory, {
      lookup: (key: string, options?: Parameters<AffinityDirectory["lookup"]>[1]) => {
        lookups.push(key);
        return directory.lookup(key, options);
      },
    });
    const cluster = await joinCluster({ directory: counting, relay: { address: relay.address, secret: TEST_SECRET } });
    cleanup.add(() => cluster.close());
    relay.server.addService(...cluster.relayService());
    const handler = new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("agent-key")[0]), cluster });
    const hub = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => hub.kill());
    startAgent(cleanup, hub.address, { name: "local", key: "L" });
    await handler.keyAsChannel("L").waitForReady();
    for (let i = 0; i < 5; i++) {
      expect(servedBy(await unaryCall(handler.keyAsChannel("L"), TestService.method.unary, {}))).toBe("local");
    }
    expect(lookups).toEqual([]);
    // A key held nowhere is looked up, and fails naming the key.
    const missing = await outcome(unaryCall(handler.keyAsChannel("M"), TestService.method.unary, {}));
    expect(missing.ok || missing.error).toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: 'no reverse tunnel for key "M" on any replica',
    });
    expect(lookups).toEqual(["M"]);
  });

  it("every client shape works on a cluster channel unchanged: typed client, grpc-js client, Connect client", async () => {
    const { a } = await twoReplicas();
    const channel = a.handler.keyAsChannel("K");

    const typed = createTunnelClient(TestService, channel);
    expect(servedBy(await typed.unary({ payload: new Uint8Array([4]) }))).toBe("agent-b");

    const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(TestService), "TestService");
    const grpcClient = new Client("cluster", grpc.credentials.createInsecure(), { channelOverride: grpcChannel(channel) });
    cleanup.add(() => grpcClient.close());
    const viaGrpc = await new Promise<Message>((resolve, reject) =>
      grpcClient.unary({ payload: new Uint8Array([5]) }, (err: grpc.ServiceError | null, res: Message) =>
        err ? reject(err) : resolve(res),
      ),
    );
    expect(servedBy(viaGrpc)).toBe("agent-b");
    expect(viaGrpc.payload).toEqual(new Uint8Array([5]));

    const connect = createClient(TestService, tunnelTransport(channel));
    const viaConnect = await connect.unary({ payload: new Uint8Array([6]) }, { headers: { "x-via": "connect" } });
    expect(servedBy(viaConnect)).toBe("agent-b");
    expect(text(viaConnect.headers["x-via"])).toBe("connect");
  });

  it("asChannel() spreads calls over this replica's tunnels only", async () => {
    const { a, b } = await twoReplicas();
    const none = await outcome(unaryCall(a.handler.asChannel(), TestService.method.unary, {}));
    expect(none.ok || none.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "no reverse tunnels are open" });
    await connectAgent(cleanup, a, { name: "agent-a", key: "J" });
    for (let i = 0; i < 3; i++) {
      expect(servedBy(await unaryCall(a.handler.asChannel(), TestService.method.unary, {}))).toBe("agent-a");
      expect(servedBy(await unaryCall(b.handler.asChannel(), TestService.method.unary, {}))).toBe("agent-b");
    }
  });

  it("waitForReady waits cluster-wide: an agent connecting to another replica wakes the channel and waiting calls", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const channel = a.handler.keyAsChannel("W");
    expect(channel.ready()).toBe(false);
    const ready = channel.waitForReady({ signal: AbortSignal.timeout(10_000) });
    const call = unaryCall(channel, TestService.method.unary, { payload: new Uint8Array([9]) }, { waitForReady: true, timeoutMs: 10_000 });
    const plain = await outcome(unaryCall(channel, TestService.method.unary, {}));
    expect(plain.ok || plain.error).toMatchObject({ code: Code.UNAVAILABLE });

    await connectAgent(cleanup, b, { name: "agent-w", key: "W" });
    await ready;
    expect(channel.ready()).toBe(true);
    const res = await call;
    expect(servedBy(res)).toBe("agent-w");
    expect(res.payload).toEqual(new Uint8Array([9]));
    // A waiting call's deadline still ends it.
    const late = await outcome(
      unaryCall(a.handler.keyAsChannel("never"), TestService.method.unary, {}, { waitForReady: true, timeoutMs: 150 }),
    );
    expect(late.ok || late.error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
  });

  it("a replica publishes a key while it holds a usable tunnel for it, and withdraws it when the last one ends", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const first = await connectAgent(cleanup, b, { name: "k1", key: "K" });
    const second = await connectAgent(cleanup, b, { name: "k2", key: "K" });
    await b.cluster.directory.flush();
    expect(await c.holders("K")).toEqual(["b"]);
    first.controller.abort();
    await b.closedTunnelOf("k1");
    await b.cluster.directory.flush();
    expect(await c.holders("K")).toEqual(["b"]); // k2 still holds it
    second.controller.abort();
    await b.closedTunnelOf("k2");
    await b.cluster.directory.flush();
    expect(await c.holders("K")).toEqual([]);
    const gone = await outcome(unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}));
    expect(gone.ok || gone.error).toMatchObject({ code: Code.UNAVAILABLE });
  });

  it("the handler's registry lets go of every tunnel that ended: agents coming and going leave nothing behind", async () => {
    const c = newCluster();
    const registry = new RecordingRegistry<string>();
    const b = await startReplica(cleanup, c, "b", { hub: { registry } });
    for (const name of ["k1", "k2", "k3"]) {
      const agent = await connectAgent(cleanup, b, { name, key: "K" });
      expect([...registry.held].map(agentName)).toEqual([name]);
      agent.controller.abort();
      await b.closedTunnelOf(name);
      expect(registry.held.size).toBe(0);
    }
    // Revoked by the handler and drained ones too.
    await connectAgent(cleanup, b, { name: "revoked", key: "R" });
    expect(b.handler.closeReverseTunnels("R")).toBe(1);
    await b.closedTunnelOf("revoked");
    const stopping = await connectAgent(cleanup, b, { name: "stopping", key: "S" });
    await stopping.rts.gracefulStop();
    await b.closedTunnelOf("stopping");
    expect(registry.held.size).toBe(0);
    expect(registry.drained.map(agentName)).toContain("stopping"); // the registry heard it drain
  });

  it("a key is withdrawn the moment its last tunnel drains, while the calls on it still run", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const gate = new Gate();
    const agent = await connectAgent(cleanup, b, { name: "k1", key: "K", impl: { serverStream: gate.serverStream } });
    const running = drain(serverStreamCall(b.handler.keyAsChannel("K"), TestService.method.serverStream, { count: 2 }));
    await gate.entered.promise;
    void agent.rts.gracefulStop();
    // The agent refuses the next call: the tunnel drains, and the key leaves the directory at once.
    const refused = await outcome(unaryCall(b.handler.keyAsChannel("K"), TestService.method.unary, {}));
    expect(refused.ok || refused.error).toMatchObject({ code: Code.UNAVAILABLE });
    await b.cluster.directory.flush();
    expect(await c.holders("K")).toEqual([]);
    const elsewhere = await outcome(unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}));
    expect(elsewhere.ok || elsewhere.error).toMatchObject({ code: Code.UNAVAILABLE });
    gate.release();
    expect(await running).toHaveLength(2);
  });

  it("a tunnel for the key here is preferred to the route to another replica cached for it", async () => {
    const { a } = await twoReplicas();
    const call = () => unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {});
    expect(servedBy(await call())).toBe("agent-b"); // relayed, and the route to b cached
    await connectAgent(cleanup, a, { name: "agent-a", key: "K" });
    for (let i = 0; i < 3; i++) expect(servedBy(await call())).toBe("agent-a");
  });

  it("a key is published again when an agent for it comes back after its last tunnel ended", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    for (const name of ["first", "second"]) {
      const agent = await connectAgent(cleanup, b, { name, key: "K" });
      await b.cluster.directory.flush();
      expect(await c.holders("K")).toEqual(["b"]);
      agent.controller.abort();
      await b.closedTunnelOf(name);
      await b.cluster.directory.flush();
      expect(await c.holders("K")).toEqual([]);
    }
  });

  it("a key is withdrawn when its last tunnel is revoked or cut off, and no call is routed to it", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const proxy = await TcpProxy.start(b.port);
    cleanup.add(() => proxy.close());
    startAgent(cleanup, b.address, { name: "revoked", key: "K" });
    startAgent(cleanup, proxy.address, { name: "cut", key: "K2" });
    await Promise.all([b.tunnelOf("revoked"), b.tunnelOf("cut")]);
    await b.cluster.directory.flush();
    expect([await c.holders("K"), await c.holders("K2")]).toEqual([["b"], ["b"]]);
    expect(b.handler.closeReverseTunnels("K")).toBe(1); // ended here, without draining first
    proxy.cut(); // ended by the network
    await Promise.all([b.closedTunnelOf("revoked"), b.closedTunnelOf("cut")]);
    await b.cluster.directory.flush();
    expect([await c.holders("K"), await c.holders("K2")]).toEqual([[], []]);
    expect(b.handler.allReverseTunnels()).toEqual([]);
    for (const replica of [a, b]) {
      for (const key of ["K", "K2"]) {
        const gone = await outcome(unaryCall(replica.handler.keyAsChannel(key), TestService.method.unary, {}));
        expect(gone.ok || gone.error).toMatchObject({ code: Code.UNAVAILABLE });
      }
    }
  });

  it("keys must be strings in cluster mode: a tunnel whose key is not one is refused", async () => {
    const c = newCluster();
    const relay = await startServer(() => {});
    cleanup.add(() => relay.kill());
    const cluster = await joinCluster({
      directory: await c.replica("x", { address: relay.address, leaseMs: TEST_LEASE_MS, refreshMs: TEST_REFRESH_MS }),
      relay: { address: relay.address, secret: TEST_SECRET },
    });
    cleanup.add(() => cluster.close());
    // What a JavaScript caller (no type check) could do.
    const handler = new TunnelServiceHandler<string>({ affinityKey: () => 42 as unknown as string, cluster });
    const hub = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => hub.kill());
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on("warning", onWarning);
    cleanup.add(() => process.off("warning", onWarning));
    const agent = startAgent(cleanup, hub.address, { name: "numbered" });
    const result = await agent.serving;
    expect(result.error?.code).toBe(Code.INTERNAL);
    expect(handler.allReverseTunnels()).toEqual([]);
    expect(warnings).toContain(
      "grpctunnel: reverse tunnel registry refused a tunnel: affinity keys are strings in cluster mode (got number)",
    );
    expect(() => handler.keyAsChannel(7 as unknown as string)).toThrow(
      new TypeError("affinity keys are strings in cluster mode (got number)"),
    );
    // One cluster per handler.
    expect(() => new TunnelServiceHandler<string>({ cluster })).toThrow(/already in use/);
    // Nor a cluster that left.
    const left = await joinCluster({
      directory: await c.replica("y", { address: "relay-y:1", leaseMs: TEST_LEASE_MS, refreshMs: TEST_REFRESH_MS }),
      relay: { address: "relay-y:1", secret: TEST_SECRET },
    });
    await left.close();
    expect(() => new TunnelServiceHandler<string>({ cluster: left })).toThrow(new Error("this cluster is closed"));
    // And the types say so: cluster mode only for string keys.
    // @ts-expect-error a handler with number keys cannot take a cluster
    expect(() => new TunnelServiceHandler<number>({ cluster })).toThrow();
  });
});
