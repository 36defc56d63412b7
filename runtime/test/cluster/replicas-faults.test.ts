// Acceptance (issue #18), with replica processes on a real Redis and agents
// behind a round-robin balancer: a replica killed with SIGKILL, and Redis
// killed and restarted (empty) mid-run.
import { afterEach, describe, expect, it } from "vitest";
import { Code } from "../../src/index.js";
import { eventually } from "../support/conditions.js";
import { RedisServer } from "../support/redis-server.js";
import { PROCESS_LEASE_MS, PROCESS_REFRESH_MS, ProcessCluster, type ReplicaProcess } from "../support/replica-processes.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A Redis of the test's own (it gets killed), and three replicas with two agents each. */
async function clusterWithAgents(): Promise<{ redis: RedisServer; cluster: ProcessCluster; holders: Map<string, ReplicaProcess> }> {
  const redis = await RedisServer.start();
  cleanup.add(() => redis.stop());
  const cluster = await ProcessCluster.start(cleanup, redis.url, 3);
  const holders = new Map<string, ReplicaProcess>();
  for (let i = 1; i <= 6; i++) {
    const { replica } = await cluster.connectAgent({ name: `agent-${i}`, key: `key-${i}` });
    holders.set(`key-${i}`, replica);
  }
  expect(new Set(holders.values()).size).toBe(3);
  return { redis, cluster, holders };
}

const keysOf = (holders: Map<string, ReplicaProcess>, replica: ReplicaProcess) =>
  [...holders].filter(([, holder]) => holder === replica).map(([key]) => key);

describe("a replica killed with SIGKILL", () => {
  it("its agents reconnect through the balancer, waiting calls to their keys succeed within 5 s, and after the lease Redis holds nothing of it", async () => {
    const { cluster, holders } = await clusterWithAgents();
    const victim = cluster.replicas[1];
    const survivors = cluster.replicas.filter((r) => r !== victim);
    const orphaned = keysOf(holders, victim);
    expect(orphaned).toHaveLength(2);
    expect(await cluster.redisEntriesOf(victim.replicaId)).not.toEqual([]);

    await victim.kill();
    const killedAt = performance.now();
    cluster.remove(victim, { unbalance: false }); // a dumb balancer: connections to the dead port are passed on
    const calls = survivors.flatMap((origin) =>
      orphaned.map((key) =>
        origin.request<{ servedBy: string }>("unary", { key, waitForReady: true, timeoutMs: 5_000 }).then((res) => ({ key, res })),
      ),
    );
    for (const { key, res } of await Promise.all(calls)) {
      expect(res.servedBy).toBe(`agent-${key.slice("key-".length)}`);
    }
    expect(performance.now() - killedAt).toBeLessThan(5_000);
    for (const key of orphaned) {
      expect(survivors.map((r) => r.replicaId)).toContain((await cluster.holderOf(key)).replicaId);
    }

    // Once its leases ran out (and the survivors' refreshes pruned it), nothing in Redis names the dead replica...
    await eventually(
      "the dead replica's entries leave Redis",
      () => cluster.redisEntriesOf(victim.replicaId),
      (left) => left.length === 0,
      PROCESS_LEASE_MS + 4 * PROCESS_REFRESH_MS + 5_000,
    );
    // ...so no call is routed there: the lookups behind calls made from now on (once cached routes
    // expired) name live replicas only, and every call succeeds.
    const since = Date.now();
    for (const origin of survivors) {
      const { value: routes } = await eventually(
        `${origin.replicaId} looking keys up again`,
        async () => {
          for (const key of holders.keys()) {
            await origin.request("unary", { key });
          }
          return origin.request<Array<{ replicaId: string }>>("routesSeen", { since });
        },
        (seen) => seen.length > 0,
        10_000,
      );
      expect(routes.map((r) => r.replicaId)).not.toContain(victim.replicaId);
    }
  }, 60_000);
});

describe("Redis killed and restarted mid-run", () => {
  it("local keys keep working, remote calls fail fast or wait, nothing is lost, and no agent had to reconnect", async () => {
    const { redis, cluster, holders } = await clusterWithAgents();
    const keys = [...holders.keys()];
    const tunnelEvents = () => cluster.replicas.reduce((n, r) => n + r.tunnels.items.length, 0);
    const eventsBefore = tunnelEvents();
    for (const replica of cluster.replicas) {
      await replica.request("loadStart", { keys, callers: 2, timeoutMs: 10_000 });
    }
    await eventually(
      "load on every replica",
      () => Promise.all(cluster.replicas.map((r) => r.request<{ calls: number }>("loadProgress"))),
      (p) => p.every((x) => x.calls >= 10),
      20_000,
    );

    await redis.kill();
    const origin = cluster.replicas[0];
    const [local] = keysOf(holders, origin);
    const [remote] = keys.filter((key) => holders.get(key) !== origin);
    // A key held here needs no directory.
    expect(await origin.request("unary", { key: local })).toMatchObject({ servedBy: `agent-${local.slice(4)}` });
    // A remote key, once its cached route expired (routeCacheMs, 1 s), fails at once naming the cause...
    const failed = await eventually(
      "a remote call failing with the directory's error",
      async () => {
        const started = performance.now();
        const error = await origin.request("unary", { key: remote }).then(
          () => undefined,
          (e: { code?: number; message: string }) => e,
        );
        return { error, ms: performance.now() - started };
      },
      (attempt) => attempt.error !== undefined,
      5_000,
    );
    expect(failed.value.ms).toBeLessThan(1_000);
    expect(failed.value.error?.code).toBe(Code.UNAVAILABLE);
    expect(failed.value.error?.message).toMatch(
      new RegExp(
        `cannot route the call for key "${remote}": cluster directory unavailable: Redis at 127\\.0\\.0\\.1:${redis.port} is not reachable`,
      ),
    );
    // ...or waits, with waitForReady, until Redis is back.
    const waiting = origin.request<{ servedBy: string }>("unary", { key: remote, waitForReady: true, timeoutMs: 10_000 });

    await redis.restart(); // empty: every replica re-asserts its keys by itself
    expect((await waiting).servedBy).toBe(`agent-${remote.slice(4)}`);
    for (const replica of cluster.replicas) {
      await eventually(
        `${replica.replicaId}'s keys back in Redis`,
        () => cluster.heldInRedis(replica.replicaId),
        (held) => held.join() === keysOf(holders, replica).sort().join(),
        10_000,
      );
    }
    let calls = 0;
    for (const replica of cluster.replicas) {
      const { calls: made, failures } = await replica.request<{ calls: number; failures: unknown[] }>("loadStop");
      expect(failures).toEqual([]);
      calls += made;
      for (const key of keys) {
        expect(await replica.request("unary", { key })).toMatchObject({ servedBy: `agent-${key.slice(4)}` });
      }
    }
    console.log(`Redis outage: ${calls} calls with waitForReady on three replicas, none failed`);
    expect(tunnelEvents()).toBe(eventsBefore);
  }, 60_000);
});
