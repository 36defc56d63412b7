// Finding 6 of issue #25: while Redis is down, a replica in cluster mode
// keeps what its directory still has to write. Agents that come with new
// 48 KB keys and leave 150 ms later must not grow that without bound; once
// Redis is back (restarted empty), the directory holds exactly the keys of
// the tunnels open then, and the replica's memory is back to its baseline.
// The replica runs in a process of its own (replica-server.mjs), measured
// after forced GCs.
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { ReverseTunnelServer } from "../../src/index.js";
import { eventually } from "../support/conditions.js";
import { RedisServer } from "../support/redis-server.js";
import { ProcessCluster, type ReplicaProcess } from "../support/replica-processes.js";
import { AGENT_KEY, AGENT_NAME, taggedTestService } from "../support/reverse.js";
import { Cleanup, tunnelClient } from "../support/servers.js";
import { TestService } from "@protoc-gen-tunnel/interop";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const MiB = 1024 * 1024;

interface Measure {
  heap: number;
  /** Buffers, and strings kept outside the heap (long metadata values: the keys). */
  external: number;
  rss: number;
  pending: { keys: number; bytes: number; dropped: number } | undefined;
}
const held = (m: Measure) => m.heap + m.external;
const measure = (replica: ReplicaProcess) => replica.request<Measure>("measure");

/** A 48 KB affinity key, distinct per name. */
const bigKey = (name: string) => `${name}-${"k".repeat(48 * 1024)}`;

/**
 * One agent at a time per loop, each with a new key: it opens a reverse
 * tunnel, holds it 150 ms (the pattern of the finding: not a wait for
 * anything) and leaves; the next starts once the replica saw it leave.
 */
async function churn(cluster: ProcessCluster, replica: ReplicaProcess, loop: number, until: () => boolean): Promise<number> {
  const client = tunnelClient(cluster.balancer.address, { "grpc.use_local_subchannel_pool": 1 });
  cleanup.add(() => client.close());
  let agents = 0;
  while (!until()) {
    const name = `churn-${loop}-${agents++}`;
    const rts = new ReverseTunnelServer(client);
    rts.registerService(TestService, taggedTestService(name));
    const controller = new AbortController();
    const serving = rts.serve({ metadata: { [AGENT_KEY]: bigKey(name), [AGENT_NAME]: name }, signal: controller.signal });
    await replica.tunnels.waitFor((e) => e.agent === name && e.event === "open");
    await sleep(150);
    controller.abort();
    await serving;
    await replica.tunnels.waitFor((e) => e.agent === name && e.event === "close");
  }
  return agents;
}

describe("a Redis outage in cluster mode (issue #25, finding 6)", () => {
  it("agents with new 48 KB keys come and go while Redis is down: bounded pending writes and memory; convergence once it is back", async () => {
    const redis = await RedisServer.start();
    cleanup.add(() => redis.stop());
    const cluster = await ProcessCluster.start(cleanup, redis.url, 1, { directory: { maxPendingRemovalBytes: 2 * MiB } });
    cleanup.add(async () => {
      for (const agent of cluster.agents) agent.controller.abort();
    });
    const [replica] = cluster.replicas as [ReplicaProcess];
    // Agents that stay through the outage, and agents whose keys are in
    // Redis before it and that leave during it (their removals must wait).
    for (let i = 0; i < 5; i++) await cluster.connectAgent({ name: `steady-${i}`, key: `steady-${i}` });
    const leaving = [];
    for (let i = 0; i < 60; i++) leaving.push(await cluster.connectAgent({ name: `leaving-${i}`, key: bigKey(`leaving-${i}`) }));
    await replica.request("flush");
    const baseline = await measure(replica);

    await redis.kill();
    await eventually(
      "the replica has lost Redis",
      async () =>
        replica.request("lookup", { key: "steady-0" }).then(
          () => true,
          () => false,
        ),
      (ok) => !ok,
      5_000,
    );
    for (const { agent } of leaving) agent.controller.abort();
    await Promise.all(leaving.map(({ agent }) => replica.tunnels.waitFor((e) => e.agent === agent.name && e.event === "close")));

    const started = performance.now();
    const counts = await Promise.all(
      Array.from({ length: 24 }, (_, loop) => churn(cluster, replica, loop, () => performance.now() - started > 10_000)),
    );
    const during = await measure(replica);
    console.log(
      `Redis down: ${counts.reduce((a, b) => a + b)} agents with new 48 KB keys came and went; pending removals ` +
        `${JSON.stringify(during.pending)}; held +${((held(during) - held(baseline)) / MiB).toFixed(1)} MiB, ` +
        `RSS +${((during.rss - baseline.rss) / MiB).toFixed(1)} MiB`,
    );
    // Keys Redis never saw need no removal; removals beyond the cap are dropped (their leases end them).
    expect(during.pending!.keys).toBeLessThanOrEqual(leaving.length);
    expect(during.pending!.bytes).toBeLessThanOrEqual(2 * MiB);
    expect(during.pending!.dropped).toBeGreaterThan(0);
    expect(held(during) - held(baseline)).toBeLessThan(6 * MiB);
    // RSS also grows with the churn itself (over a thousand connections in
    // 10 s, memory the allocator keeps after it is freed): measured +58 to
    // +144 MiB on Node 20 to 24 while held fell. A loose guard; what the
    // replica holds is the figure above.
    expect(during.rss - baseline.rss).toBeLessThan(256 * MiB);

    await redis.restart();
    const expected = [
      `${cluster.namespace}:replica:${replica.replicaId}`,
      ...[0, 1, 2, 3, 4].map((i) => `${cluster.namespace}:key:steady-${i}`),
    ];
    await eventually(
      "Redis holds exactly the keys of the open tunnels",
      () => cluster.redisEntriesOf(replica.replicaId),
      (keys) => keys.join() === expected.sort().join(),
      10_000,
    );
    const after = await eventually(
      "the pending removals written",
      () => measure(replica),
      (m) => m.pending?.keys === 0,
      10_000,
    );
    expect(held(after.value) - held(baseline)).toBeLessThan(4 * MiB);
  }, 120_000);
});
