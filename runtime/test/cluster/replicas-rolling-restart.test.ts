// Acceptance (issue #18): a rolling restart of all three replicas, one at a
// time, each drained gracefully (the recipe of docs/production.md), under continuous
// load — callers on every replica, random keys, waitForReady, 10 s
// deadlines — ends with zero failed calls.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/conditions.js";
import { sharedRedis } from "../support/redis-server.js";
import { ProcessCluster, type ReplicaProcess } from "../support/replica-processes.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
let redis: Awaited<ReturnType<typeof sharedRedis>>;

beforeAll(async () => {
  redis = await sharedRedis();
});
afterAll(async () => {
  await cleanup.run();
  await redis.stop();
});

const AGENTS = 6;
const LOAD = { callers: 2, timeoutMs: 10_000 };

interface LoadResult {
  calls: number;
  failures: Array<{ key: string; code?: number; message: string }>;
}

describe("rolling restart under load", () => {
  it("restarts all three replicas one at a time, each drained, with zero failed calls", async () => {
    const cluster = await ProcessCluster.start(cleanup, redis.url, 3);
    const keys: string[] = [];
    for (let i = 1; i <= AGENTS; i++) {
      await cluster.connectAgent({ name: `agent-${i}`, key: `key-${i}` });
      keys.push(`key-${i}`);
    }
    const results: LoadResult[] = [];
    const startLoad = (replica: ReplicaProcess) => replica.request("loadStart", { keys, ...LOAD });
    /** Every replica running now has made `n` more calls than when this was called. */
    const progress = async (n: number) => {
      const before = await Promise.all(cluster.replicas.map((r) => r.request<{ calls: number }>("loadProgress")));
      await eventually(
        `${n} more calls on every replica`,
        () => Promise.all(cluster.replicas.map((r) => r.request<{ calls: number }>("loadProgress"))),
        (now) => now.every((p, i) => p.calls >= before[i].calls + n),
        30_000,
      );
    };
    for (const replica of cluster.replicas) {
      await startLoad(replica);
    }
    await progress(20);

    for (const old of [...cluster.replicas]) {
      // Surge one new replica, take the old one out of the balancer, stop its callers, then drain it.
      const fresh = await cluster.addReplica();
      await startLoad(fresh);
      cluster.unbalance(old);
      results.push(await old.request<LoadResult>("loadStop"));
      await old.drainAndExit(10_000);
      cluster.remove(old);
      // Its agents reconnected through the balancer to the others; calls went on meanwhile.
      for (const key of keys) {
        await cluster.holderOf(key);
      }
      await progress(20);
    }
    for (const replica of cluster.replicas) {
      results.push(await replica.request<LoadResult>("loadStop"));
    }

    const calls = results.reduce((n, r) => n + r.calls, 0);
    const failures = results.flatMap((r) => r.failures);
    console.log(
      `rolling restart of 3 replicas: ${calls} calls (waitForReady, 10 s deadlines) on 6 replicas over time, ${failures.length} failed`,
    );
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThanOrEqual(20 * 3 * 4);
    expect(cluster.replicas.map((r) => r.replicaId).sort()).toEqual(["r4", "r5", "r6"]);
  }, 120_000);
});
