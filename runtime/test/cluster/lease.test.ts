import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClusterFixture, routeOf, sortedRoutes, TEST_LEASE_MS, TEST_REFRESH_MS } from "../support/cluster.js";
import { DirectoryProcesses } from "../support/directory-processes.js";
import { eventually } from "../support/conditions.js";
import { sharedRedis } from "../support/redis-server.js";

let redis: Awaited<ReturnType<typeof sharedRedis>>;
let cluster: ClusterFixture;
const processes = new DirectoryProcesses();

beforeAll(async () => {
  redis = await sharedRedis();
});
afterAll(async () => {
  await redis?.stop();
});
afterEach(async () => {
  processes.killAll();
  await cluster?.cleanup();
});

describe("cluster directory: leases", () => {
  it("a replica killed with SIGKILL disappears from lookups within the lease and from Redis within lease + refresh interval", async () => {
    cluster = new ClusterFixture(redis.url);
    const c = cluster;
    const b = await c.replica("b");
    b.register("shared");
    await b.flush();
    const child = await processes.start(c, "dead", ["solo-1", "solo-2", "shared"]);
    expect(await b.lookup("solo-1")).toEqual([routeOf("dead")]);
    expect(sortedRoutes(await b.lookup("shared"))).toEqual([routeOf("b"), routeOf("dead")]);

    await processes.kill(child);
    const killedAt = performance.now();
    // Its leases still run: the entries are there right after the kill.
    expect(await b.lookup("solo-2")).toEqual([routeOf("dead")]);

    // Lookups stop naming it once its lease ends (Redis's clock decides, no cleanup needed).
    await eventually(
      "lookups without the dead replica",
      async () => [await b.lookup("solo-1"), await b.lookup("solo-2"), await b.lookup("shared")],
      ([solo1, solo2, shared]) => solo1.length === 0 && solo2.length === 0 && shared.length === 1,
      TEST_LEASE_MS + 1_000,
    );
    expect(performance.now() - killedAt).toBeLessThan(TEST_LEASE_MS + 1_000);
    expect(await b.lookup("shared")).toEqual([routeOf("b")]);

    // And Redis holds none of its entries: unshared keys expired, its member of
    // the shared key pruned by the live holder's next refresh.
    const dead = `${c.namespace}:replica:dead`;
    await eventually(
      "Redis without the dead replica's entries",
      async () => ({ keys: await c.redisKeys(), shared: await c.holders("shared") }),
      ({ keys, shared }) => !keys.includes(dead) && keys.every((k) => !k.includes(":key:solo")) && shared.join() === "b",
      TEST_LEASE_MS + TEST_REFRESH_MS + 1_000,
    );
    expect(performance.now() - killedAt).toBeLessThan(TEST_LEASE_MS + TEST_REFRESH_MS + 1_000);
    expect(await c.redisKeys()).toEqual([`${c.namespace}:key:shared`, `${c.namespace}:replica:b`]);
  });

  it("a lookup after a holder's lease expired finds no route to it, even with its replica id back under a fresh record", async () => {
    cluster = new ClusterFixture(redis.url);
    const c = cluster;
    // The live holder refreshes rarely, so nothing prunes the expired lease during the test.
    const b = await c.replica("b", { leaseMs: 120_000, refreshMs: 60_000 });
    b.register("K");
    await b.flush();
    const child = await processes.start(c, "a", ["K"]);
    expect(sortedRoutes(await b.lookup("K"))).toEqual([routeOf("a"), routeOf("b")]);

    // "a" crashes and restarts under the same id (as a StatefulSet pod does) without the key's tunnel.
    await processes.kill(child);
    await c.replica("a");
    // Its lease ends within TEST_LEASE_MS; the bound is slack for a loaded machine, well before b's next refresh.
    await eventually(
      "a lookup without the expired holder",
      () => b.lookup("K"),
      (routes) => routes.length === 1,
      10_000,
    );
    expect(await b.lookup("K")).toEqual([routeOf("b")]);
    // Its expired lease is still in Redis: the lookup itself leaves it out.
    expect(await c.holders("K")).toEqual(["a", "b"]);
  });

  it("a live replica's entries outlive many leases (they are refreshed)", async () => {
    cluster = new ClusterFixture(redis.url);
    const c = cluster;
    const b = await c.replica("b");
    await processes.start(c, "alive", ["k"]);
    const probe = await c.probe();
    // Watch the lease being renewed: its expiry moves forward past the first one's end.
    const firstExpiry = await probe.zScore(`${c.namespace}:key:k`, "alive");
    expect(firstExpiry).not.toBeNull();
    await eventually(
      "a lease renewed past the first one's end",
      () => probe.zScore(`${c.namespace}:key:k`, "alive"),
      (score) => score !== null && score > (firstExpiry ?? 0) + TEST_LEASE_MS,
      3 * TEST_LEASE_MS,
    );
    expect(await b.lookup("k")).toEqual([routeOf("alive")]);
  });
});
