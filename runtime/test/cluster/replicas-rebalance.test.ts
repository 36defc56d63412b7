// Acceptance (issue #29): rebalancing. Two replicas hold twelve agents, a
// third joins empty; with `rebalance` on, the loaded ones shed tunnels a few
// at a time, gracefully, the agents reconnect through the balancer, and the
// new replica fills up — while callers on every replica keep calling every
// key (waitForReady, 10 s deadlines, handlers that take a while) with zero
// failed calls. (How many tunnels a replica sheds: rebalance.test.ts.)
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { testServiceImpl } from "@protoc-gen-tunnel/interop";
import type { TunnelsShedEvent } from "../../src/protocol.js";
import { eventually } from "../support/conditions.js";
import { redisForFile } from "../support/redis-per-file.js";
import { ProcessCluster, type ReplicaProcess } from "../support/replica-processes.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();

const redisUrl = redisForFile(cleanup);

const AGENTS = 12;
const LOAD = { callers: 2, timeoutMs: 10_000 };

interface ShedRounds {
  rounds: TunnelsShedEvent[];
  total: number;
}

interface LoadResult {
  calls: number;
  failures: Array<{ key: string; code?: number; message: string }>;
}

describe("rebalancing", () => {
  it("moves tunnels to a replica that joined empty, with zero failed calls", async () => {
    const cluster = await ProcessCluster.start(cleanup, redisUrl(), 2, {
      rebalance: { intervalMs: 300, threshold: 0.2, maxShedPerInterval: 2, graceMs: 10_000 },
    });
    const keys: string[] = [];
    for (let i = 1; i <= AGENTS; i++) {
      const key = `key-${i}`;
      keys.push(key);
      // Each call takes a moment, so tunnels are shed with calls running on them.
      await cluster.connectAgent({
        name: `agent-${i}`,
        key,
        impl: {
          async unary(req, ctx) {
            await sleep(15);
            return testServiceImpl.unary(req, ctx);
          },
        },
      });
    }
    const held = (replica: ReplicaProcess) => keys.filter((key) => replica.holds(key)).length;
    const [r1, r2] = cluster.replicas;
    expect([held(r1), held(r2)]).toEqual([6, 6]); // round-robin balancer; the two are balanced already
    for (const replica of cluster.replicas) await replica.request("loadStart", { keys, ...LOAD });

    const r3 = await cluster.addReplica();
    await r3.request("loadStart", { keys, ...LOAD });
    const balanced = await eventually(
      "the new replica filled up",
      async () => cluster.replicas.map(held),
      (counts) => counts[2] >= 3 && counts.every((n) => n <= 5) && counts.reduce((a, b) => a + b, 0) === AGENTS,
      60_000,
    );
    console.log(`rebalanced to ${balanced.value.join("/")} in ${Math.round(balanced.ms)} ms`);
    // Calls went on meanwhile, on every replica.
    const before = await Promise.all(cluster.replicas.map((r) => r.request<{ calls: number }>("loadProgress")));
    await eventually(
      "10 more calls on every replica",
      () => Promise.all(cluster.replicas.map((r) => r.request<{ calls: number }>("loadProgress"))),
      (now) => now.every((p, i) => p.calls >= before[i].calls + 10),
      30_000,
    );
    const results = await Promise.all(cluster.replicas.map((r) => r.request<LoadResult>("loadStop")));
    const calls = results.reduce((n, r) => n + r.calls, 0);
    const failures = results.flatMap((r) => r.failures);
    const moved = r1.tunnels.count((e) => e.event === "close") + r2.tunnels.count((e) => e.event === "close");
    console.log(`rebalancing: ${moved} tunnels moved, ${calls} calls, ${failures.length} failed`);
    expect(failures).toEqual([]);
    expect(moved).toBeGreaterThanOrEqual(3);
    expect(calls).toBeGreaterThan(30);
    // Rate-limited: the loaded replicas shed a few per round (maxShedPerInterval), as their diagnostics say.
    for (const replica of [r1, r2]) {
      const { rounds, total } = await replica.request<ShedRounds>("shedRounds");
      expect(rounds.every((round) => round.shed >= 1 && round.shed <= 2 && round.held > round.meanTunnels)).toBe(true);
      expect(rounds.reduce((n, round) => n + round.shed, 0)).toBe(total);
    }
    const shedByLoaded = (await Promise.all([r1, r2].map((r) => r.request<ShedRounds>("shedRounds")))).reduce((n, s) => n + s.total, 0);
    expect(shedByLoaded).toBeGreaterThanOrEqual(3);
  }, 120_000);
});
