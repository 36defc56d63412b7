// A replica's leases in Redis (LeaseKeeper), in process: the refresh cycle
// re-writes what Redis lost, written removals stop being pending, a key
// first sent by a re-assert is removed like any other, changes made while
// Redis is unreachable are kept rather than attempted, and a write that
// fails while connected is reported. (cluster/lease.test.ts covers expiry
// with replicas as child processes.)
import { afterEach, describe, expect, it } from "vitest";
import { ClusterFixture, clusterPerTest, gatedCluster, routeOf } from "../support/cluster.js";
import { eventually } from "../support/conditions.js";
import { outcome } from "../support/events.js";
import { RedisServer } from "../support/redis-server.js";
import { Cleanup } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Leases that outlast any test, refreshed less often than any test lasts: only explicit writes change Redis. */
const NO_REFRESH = { leaseMs: 60_000, refreshMs: 20_000 };

const lostReports = (c: ClusterFixture, replicaId: string) =>
  c.reported.filter((r) => r.replicaId === replicaId && /lost the connection/.test(r.error.message)).length;

/** Replica a on a Redis of its own behind a gate, holding `key` there, then cut off (both its connections lost). */
async function cutOffHolding(key: string) {
  const { gate, c } = await gatedCluster(cleanup);
  const a = await c.replica("a", { url: gate.url, ...NO_REFRESH });
  a.register(key);
  await a.flush();
  gate.down();
  await eventually(
    "a has lost Redis",
    async () => lostReports(c, "a"),
    (n) => n === 2,
    5_000,
  );
  return { gate, c, a };
}

describe("cluster directory: leases", () => {
  it("keys Redis lost are written again within a refresh interval, without any register", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    a.register("k1");
    a.register("k2");
    await a.flush();
    const probe = await c.probe();
    const keys = await c.redisKeys();
    expect(keys.length).toBeGreaterThanOrEqual(3); // the record and two entries
    expect(await probe.del(keys)).toBe(keys.length); // (the next refresh may come at any time from here)
    await eventually(
      "the entries re-written",
      async () => [await b.lookup("k1"), await b.lookup("k2")],
      ([k1, k2]) => k1.length === 1 && k2.length === 1,
      5_000,
    );
    expect(await b.lookup("k2")).toEqual([routeOf("a")]);
  });

  it("an unregister written to Redis leaves no removal pending, without a flush", async () => {
    const c = newCluster();
    const a = await c.replica("a", NO_REFRESH);
    a.register("k");
    await a.flush();
    a.unregister("k");
    expect(a.pendingRemovals.keys).toBe(1);
    await eventually(
      "the removal written",
      async () => a.pendingRemovals.keys,
      (n) => n === 0,
      5_000,
    );
    expect(await c.holders("k")).toEqual([]);
  });

  it("a key registered while Redis was unreachable, then sent by the re-assert, is removed when unregistered", async () => {
    const { gate, c } = await gatedCluster(cleanup);
    const a = await c.replica("a", { url: gate.url, ...NO_REFRESH });
    const b = await c.replica("b");
    gate.down();
    await eventually(
      "a has lost Redis",
      async () => lostReports(c, "a"),
      (n) => n === 2, // its command and subscriber connections
      5_000,
    );
    a.register("late");
    gate.up();
    await eventually(
      "the re-assert sent it",
      () => b.lookup("late"),
      (routes) => routes.length === 1,
      5_000,
    );
    a.unregister("late");
    await a.flush();
    expect(await b.lookup("late")).toEqual([]);
  });

  it("changes made while Redis is unreachable are kept, not attempted: nothing is reported for them", async () => {
    const { c, a } = await cutOffHolding("kept");
    const reported = c.reported.length;
    a.register("added");
    a.unregister("kept");
    expect((await outcome(a.flush())).ok).toBe(false); // fails at once: Redis is unreachable
    expect(c.reported.slice(reported)).toEqual([]);
    expect([...a.registeredKeys]).toEqual(["added"]);
  });

  it("a write that fails while Redis is connected is reported", async () => {
    const server = await RedisServer.start();
    cleanup.add(() => server.stop());
    const c = new ClusterFixture(server.url);
    cleanup.add(() => c.cleanup());
    const a = await c.replica("a", { commandTimeoutMs: 300, ...NO_REFRESH });
    await a.flush();
    server.pause(); // connected, but it answers nothing
    cleanup.add(() => server.resume());
    a.register("k");
    const { value } = await eventually(
      "the failed write reported",
      async () => c.reported.filter((r) => r.replicaId === "a").map((r) => r.error.rawMessage),
      (messages) => messages.length > 0,
      5_000,
    );
    expect(value[0]).toBe(`cluster directory unavailable: Redis at 127.0.0.1:${server.port} did not answer within 300 ms`);
    server.resume();
    await a.flush(); // the failed write is repaired
    expect(await c.holders("k")).toEqual(["a"]);
  });

  it("a key registered again while Redis is unreachable, then unregistered, is removed from Redis once it is back", async () => {
    const { gate, c, a } = await cutOffHolding("k");
    a.register("k"); // held already: nothing changes
    a.unregister("k");
    expect(a.pendingRemovals.keys).toBe(1);
    gate.up();
    await eventually(
      "the removal written",
      async () => a.pendingRemovals.keys,
      (n) => n === 0,
      10_000,
    );
    expect(await c.holders("k")).toEqual([]);
  });
});
