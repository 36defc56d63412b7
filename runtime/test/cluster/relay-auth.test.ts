// Replica-to-replica traffic is not open to agents or the public: the relay
// listener is its own port, takes only forward tunnels carrying the
// cluster's secret, and never takes reverse tunnels; the agents' port never
// relays. A replica with another secret cannot relay through it either.
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code, openTunnel, type TunnelError, unaryCall } from "../../src/index.js";
import type { MetadataInit } from "../../src/protocol.js";
import { joinCluster, RELAY_KEY_HEADER, RELAY_SECRET_HEADER } from "../../src/cluster.js";
import { clusterPerTest } from "../support/cluster.js";
import { outcome } from "../support/events.js";
import { connectAgent, servedBy, startAgent } from "../support/reverse.js";
import { startReplica, TEST_SECRET } from "../support/replicas.js";
import { Cleanup, startServer, tunnelClient } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function errorOf(promise: Promise<unknown>): Promise<TunnelError> {
  const result = await outcome(promise);
  if (result.ok) {
    throw new Error("expected a failure");
  }
  return result.error as TunnelError;
}

describe("relay authentication", () => {
  it("a relay tunnel without the cluster's secret, or with another one, is refused UNAUTHENTICATED", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    const client = tunnelClient(b.relay.address);
    cleanup.add(() => client.close());
    const attempts: MetadataInit[] = [
      {},
      { [RELAY_SECRET_HEADER]: "wrong" },
      { [RELAY_SECRET_HEADER]: `${TEST_SECRET}x` },
      { [RELAY_SECRET_HEADER]: [TEST_SECRET, TEST_SECRET] },
    ];
    for (const metadata of attempts) {
      const error = await errorOf(openTunnel(client, { metadata }));
      expect(error).toMatchObject({ code: Code.UNAUTHENTICATED, rawMessage: "relay tunnels need the cluster's secret" });
    }
    // With the secret the same client relays a call to the agent.
    const tunnel = await openTunnel(client, { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } });
    cleanup.add(() => tunnel.close());
    const res = await unaryCall(tunnel, TestService.method.unary, {}, { metadata: { [RELAY_KEY_HEADER]: Buffer.from("K") } });
    expect(servedBy(res)).toBe("agent-b");
  });

  it("relay tunnels are admitted on a connection budget, once the secret matched", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b", { hub: { limits: { maxTunnelsPerConnection: 2 } } });
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    const client = tunnelClient(b.relay.address);
    cleanup.add(() => client.close());
    const secret = { [RELAY_SECRET_HEADER]: TEST_SECRET };
    const tunnels = [await openTunnel(client, { metadata: secret }), await openTunnel(client, { metadata: secret })];
    for (const tunnel of tunnels) cleanup.add(() => tunnel.close());
    // Authentication comes first: a client without the secret learns nothing of the budget.
    expect(await errorOf(openTunnel(client, {}))).toMatchObject({ code: Code.UNAUTHENTICATED });
    expect(await errorOf(openTunnel(client, { metadata: secret }))).toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      rawMessage: "too many tunnels on this connection (limit 2)",
    });
    // A place freed is taken again, and relaying goes on meanwhile.
    const res = await unaryCall(tunnels[0]!, TestService.method.unary, {}, { metadata: { [RELAY_KEY_HEADER]: Buffer.from("K") } });
    expect(servedBy(res)).toBe("agent-b");
    tunnels[1]!.close();
    await tunnels[1]!.done;
    // The server lets go of the place once it sees the tunnel RPC over: each try is a round trip.
    let again = await outcome(openTunnel(client, { metadata: secret }));
    for (let attempt = 0; attempt < 100 && !again.ok; attempt++) {
      expect(again.error).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
      again = await outcome(openTunnel(client, { metadata: secret }));
    }
    expect(again.ok).toBe(true);
    if (again.ok) cleanup.add(() => again.value.close());
  });

  it("an agent cannot register a key through the relay port, with or without the secret", async () => {
    const c = newCluster();
    const a = await startReplica(cleanup, c, "a");
    const b = await startReplica(cleanup, c, "b");
    const without = await startAgent(cleanup, b.relay.address, { name: "intruder", key: "K" }).serving;
    expect(without).toMatchObject({ started: false, error: { code: Code.UNAUTHENTICATED } });
    const withSecret = await startAgent(cleanup, b.relay.address, {
      name: "insider",
      key: "K",
      serve: { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } },
    }).serving;
    expect(withSecret).toMatchObject({ started: false, error: { code: Code.PERMISSION_DENIED } });
    expect(b.handler.allReverseTunnels()).toEqual([]);
    expect(await c.holders("K")).toEqual([]);
    const res = await outcome(unaryCall(a.handler.keyAsChannel("K"), TestService.method.unary, {}));
    expect(res.ok || res.error).toMatchObject({ code: Code.UNAVAILABLE });
  });

  it("the agents' port never relays: calls on a forward tunnel there with a relay key reach the replica's own services, no agent", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    const client = tunnelClient(b.address);
    cleanup.add(() => client.close());
    // Without forward services the agents' port refuses forward tunnels altogether.
    expect((await errorOf(openTunnel(client, { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } }))).code).toBe(Code.UNIMPLEMENTED);
    // With them, a call carrying a relay key is just a call to those services.
    b.handler.registerService(TestService, testServiceImpl);
    const tunnel = await openTunnel(client, { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } });
    cleanup.add(() => tunnel.close());
    const res = await unaryCall(tunnel, TestService.method.unary, {}, { metadata: { [RELAY_KEY_HEADER]: Buffer.from("K") } });
    expect(servedBy(res)).toBe("");
    expect(Buffer.from(res.headers[RELAY_KEY_HEADER]).toString()).toBe("K");
  });

  it("a replica with another secret cannot relay to the cluster's replicas: its calls fail, naming why", async () => {
    const c = newCluster();
    const b = await startReplica(cleanup, c, "b");
    await connectAgent(cleanup, b, { name: "agent-b", key: "K" });
    await b.cluster.directory.flush();
    const rogue = await startReplica(cleanup, c, "rogue", { relay: { secret: `another-secret-${randomUUID()}` } });
    const error = await errorOf(unaryCall(rogue.handler.keyAsChannel("K"), TestService.method.unary, {}));
    expect(error.code).toBe(Code.UNAVAILABLE);
    expect(error.rawMessage).toMatch(/replica b unreachable: relay at 127\.0\.0\.1:\d+: relay tunnels need the cluster's secret/);
  });

  it("a replica serving no handler yet refuses relay tunnels UNAVAILABLE; reverse tunnels are refused naming why", async () => {
    const c = newCluster();
    const relay = await startServer(() => {});
    cleanup.add(() => relay.kill());
    const cluster = await joinCluster({
      directory: await c.replica("lonely", { address: relay.address }),
      relay: { address: relay.address, secret: TEST_SECRET },
    });
    cleanup.add(() => cluster.close());
    relay.server.addService(...cluster.relayService());
    const client = tunnelClient(relay.address);
    cleanup.add(() => client.close());
    expect(await errorOf(openTunnel(client, { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } }))).toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: "replica serves no handler yet",
    });
    const agent = await startAgent(cleanup, relay.address, {
      name: "insider",
      serve: { metadata: { [RELAY_SECRET_HEADER]: TEST_SECRET } },
    }).serving;
    expect(agent.error?.rawMessage).toMatch(/a relay listener takes no reverse tunnels/);
  });

  it("joinCluster checks its options before connecting anywhere", async () => {
    const c = newCluster();
    const relay = { address: "127.0.0.1:1", secret: TEST_SECRET };
    await expect(joinCluster({ relay: { ...relay, secret: "short" }, redisUrl: c.url })).rejects.toThrow(/at least 16 characters/);
    await expect(joinCluster({ relay: { ...relay, address: "" }, redisUrl: c.url })).rejects.toThrow(TypeError);
    await expect(joinCluster({ relay })).rejects.toThrow(/exactly one of redisUrl and directory/);
    await expect(joinCluster({ relay: { ...relay, connectTimeoutMs: 0 }, redisUrl: c.url })).rejects.toThrow(RangeError);
    const directory = await c.replica("elsewhere");
    await expect(joinCluster({ relay, directory })).rejects.toThrow(/publishes relay-elsewhere:7000/);
    await expect(joinCluster({ relay, redisUrl: "redis://127.0.0.1:1" })).rejects.toMatchObject({ code: Code.UNAVAILABLE });
  });
});
