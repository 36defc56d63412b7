// Fleet operations with replica processes (issue #29): SIGTERM drains a
// replica gracefully (readiness fails at once, the call in flight finishes,
// its agent moves, it exits 0 and leaves nothing in Redis), and when a
// call outlasts the grace period (cut short, exit 1; a second SIGTERM stops
// at once); a dead replica's entries for a key that moved are gone within
// lease + refresh interval; a noisy key is throttled on the replica holding it, whichever
// replica the calls come from, while other keys go on.
import { describe, expect, it } from "vitest";
import { testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code } from "../../src/index.js";
import { deferred } from "../../src/deferred.js";
import { eventually } from "../support/conditions.js";
import { EventLog } from "../support/events.js";
import { request } from "../support/http-page.js";
import { redisForFile } from "../support/redis-per-file.js";
import { PROCESS_LEASE_MS, PROCESS_REFRESH_MS, ProcessCluster, ReplicaError, type ReplicaProcess } from "../support/replica-processes.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();

const redisUrl = redisForFile(cleanup);

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");
const readyStatus = async (replica: ReplicaProcess) => (await request(`${replica.httpUrl}/readyz`)).status;
/** Resolves once the replica's readiness fails (503). */
const notReady = (replica: ReplicaProcess) =>
  eventually(
    `${replica.replicaId} not ready`,
    () => readyStatus(replica),
    (s) => s === 503,
    5_000,
  );
const other = (cluster: ProcessCluster, replica: ReplicaProcess) => cluster.replicas.find((r) => r !== replica)!;

describe("a replica process told to stop (SIGTERM)", () => {
  it("fails readiness at once, lets the call in flight finish, hands its agent over, exits 0 and leaves nothing in Redis", async () => {
    const cluster = await ProcessCluster.start(cleanup, redisUrl(), 2, { shutdownGraceMs: 15_000 });
    const started = new EventLog<string>();
    const release = deferred<void>();
    const { replica: holder } = await cluster.connectAgent({
      name: "slow-agent",
      key: "slow",
      impl: {
        async unary(req, ctx) {
          if (text(req.payload) === "slow") {
            started.push("slow");
            await release.promise;
          }
          return testServiceImpl.unary(req, ctx);
        },
      },
    });
    const caller = other(cluster, holder);
    expect(await readyStatus(holder)).toBe(200);

    // A call relayed from the other replica, held by the agent's handler.
    const inFlight = caller.request<{ payload: string }>("unary", { key: "slow", timeoutMs: 30_000 });
    await started.waitFor();
    holder.signal("SIGTERM");
    await notReady(holder);
    cluster.unbalance(holder); // what failing readiness does to a Service's endpoints
    expect(holder.tunnels.count((e) => e.event === "close")).toBe(0); // the tunnel waits for its call

    release.resolve();
    expect(await inFlight).toMatchObject({ payload: "slow" });
    expect(await holder.exited).toBe(0);
    cluster.remove(holder);
    expect(await cluster.redisEntriesOf(holder.replicaId)).toEqual([]); // withdrawn on the way out, not left to expire

    // The agent reconnected to the other replica; calls for it go on.
    await cluster.holderOf("slow");
    expect(await caller.request<{ payload: string }>("unary", { key: "slow", waitForReady: true })).toMatchObject({ payload: "slow" });
  }, 60_000);
});

describe("a replica process whose calls outlast the grace period", () => {
  /** A cluster of one replica whose agent holds every "stuck" call until the test ends, with one such call running. */
  async function stuckCall(shutdownGraceMs: number) {
    const cluster = await ProcessCluster.start(cleanup, redisUrl(), 1, { shutdownGraceMs });
    const started = new EventLog<string>();
    const never = deferred<void>();
    cleanup.add(() => never.resolve());
    const { replica } = await cluster.connectAgent({
      name: "stuck-agent",
      key: "stuck",
      impl: {
        async unary(req, ctx) {
          started.push("stuck");
          await never.promise;
          return testServiceImpl.unary(req, ctx);
        },
      },
    });
    const inFlight = replica.request("unary", { key: "stuck", timeoutMs: 60_000 }).then(
      () => Code.OK,
      (e: unknown) => (e instanceof ReplicaError ? e.code : -1),
    );
    await started.waitFor();
    return { replica, inFlight };
  }

  it("cuts the call short when the grace period is over, forces the servers down and exits 1", async () => {
    const graceMs = 1_000;
    const { replica, inFlight } = await stuckCall(graceMs);
    const signalled = performance.now();
    replica.signal("SIGTERM");
    await notReady(replica);
    expect(await replica.exited).toBe(1);
    const took = performance.now() - signalled;
    expect(took).toBeGreaterThanOrEqual(graceMs); // the call was given its grace period
    expect(took).toBeLessThan(graceMs + 1_000 + 4_000); // grace + the servers' margin, with room for a busy machine
    expect(await inFlight).not.toBe(Code.OK);
  }, 60_000);

  it("stops at once on a second SIGTERM, long before the grace period", async () => {
    const { replica, inFlight } = await stuckCall(30_000);
    replica.signal("SIGTERM");
    await notReady(replica);
    const again = performance.now();
    replica.signal("SIGTERM");
    expect(await replica.exited).toBe(1);
    expect(performance.now() - again).toBeLessThan(10_000);
    expect(await inFlight).not.toBe(Code.OK);
  }, 60_000);
});

describe("a dead replica's directory entries", () => {
  it(`are gone from Redis within lease + refresh interval (${PROCESS_LEASE_MS} + ${PROCESS_REFRESH_MS} ms), also for a key that moved`, async () => {
    const cluster = await ProcessCluster.start(cleanup, redisUrl(), 2);
    const { replica: victim } = await cluster.connectAgent({ name: "mover", key: "moving" });
    const survivor = other(cluster, victim);
    await cluster.connectAgent({ name: "stayer", key: "staying" }); // round robin: the other replica
    expect(await cluster.redisEntriesOf(victim.replicaId)).toEqual([
      `${cluster.namespace}:key:moving`,
      `${cluster.namespace}:replica:${victim.replicaId}`,
    ]);
    await victim.kill();
    const killedAt = performance.now();
    cluster.remove(victim);
    // The agent reconnects to the survivor, which registers the key while the dead lease still runs.
    await cluster.holderOf("moving");
    const moved = performance.now() - killedAt;
    const routes = await survivor.request<Array<{ replicaId: string }>>("lookup", { key: "moving" });
    expect(routes.map((r) => r.replicaId)).toContain(survivor.replicaId);

    const gone = await eventually(
      "no entry of the dead replica in Redis",
      () => cluster.redisEntriesOf(victim.replicaId),
      (entries) => entries.length === 0,
      PROCESS_LEASE_MS + PROCESS_REFRESH_MS + 5_000,
    );
    const goneAfter = performance.now() - killedAt;
    console.log(`dead replica: key moved after ${Math.round(moved)} ms, its entries gone after ${Math.round(goneAfter)} ms`);
    // The documented bound (docs/scaling-out.md), with room for this test's polling and a busy machine.
    expect(goneAfter).toBeLessThanOrEqual(PROCESS_LEASE_MS + PROCESS_REFRESH_MS + 1_000);
    expect(gone.value).toEqual([]);
    expect((await survivor.request<Array<{ replicaId: string }>>("lookup", { key: "moving" })).map((r) => r.replicaId)).toEqual([
      survivor.replicaId,
    ]);
  }, 60_000);
});

describe("quotas across replica processes", () => {
  it("throttle a noisy key on the replica holding it, whichever replica calls, while other keys go on", async () => {
    const cluster = await ProcessCluster.start(cleanup, redisUrl(), 2, { quotas: { perKey: { callsPerSecond: 0.5, burst: 3 } } });
    const { replica: holder } = await cluster.connectAgent({ name: "noisy-agent", key: "noisy" });
    await cluster.connectAgent({ name: "quiet-agent", key: "quiet" });
    const caller = other(cluster, holder);
    const codes: Array<number | undefined> = [];
    for (let i = 0; i < 8; i++) {
      // Alternately from the holder and relayed from the other replica: both count against the key there.
      const from = i % 2 === 0 ? holder : caller;
      codes.push(
        await from.request("unary", { key: "noisy" }).then(
          () => Code.OK,
          (e: unknown) => (e instanceof ReplicaError ? e.code : undefined),
        ),
      );
    }
    expect(codes.filter((c) => c === Code.OK).length).toBeGreaterThanOrEqual(2);
    expect(codes.filter((c) => c === Code.OK).length).toBeLessThanOrEqual(5);
    expect(codes.filter((c) => c !== Code.OK).every((c) => c === Code.RESOURCE_EXHAUSTED)).toBe(true);
    // The quiet key is not held back (from either replica).
    for (const from of [holder, caller, holder]) {
      expect(await from.request("unary", { key: "quiet" })).toMatchObject({ payload: "quiet" });
    }
  }, 60_000);
});
