import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../../src/index.js";
import { RedisAffinityDirectory } from "../../src/cluster.js";
import { clusterPerTest, routeOf, sortedRoutes } from "../support/cluster.js";
import { outcome } from "../support/events.js";
import { settleLeaks, watchedResources } from "../faults/leaks.js";

const newCluster = clusterPerTest();

describe("cluster directory on Redis: register, lookup, unregister", () => {
  it("a key registered on one replica is found from another, with the owner's relay address", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    a.register("camera-1");
    await a.flush();
    expect(await b.lookup("camera-1")).toEqual([routeOf("a")]);
    expect(await b.lookup("camera-2")).toEqual([]);
    // The owner finds itself unless it excludes itself.
    expect(await a.lookup("camera-1")).toEqual([routeOf("a")]);
    expect(await a.lookup("camera-1", { exclude: "a" })).toEqual([]);
  });

  it("unregister removes the entry at once, not when the lease ends", async () => {
    const c = newCluster();
    const a = await c.replica("a", { leaseMs: 60_000, refreshMs: 20_000 });
    const b = await c.replica("b");
    a.register("k");
    await a.flush();
    expect(await b.lookup("k")).toEqual([routeOf("a")]);
    a.unregister("k");
    await a.flush();
    expect(await b.lookup("k")).toEqual([]);
    expect(await c.redisKeys()).toEqual([`${c.namespace}:replica:a`, `${c.namespace}:replica:b`]);
  });

  it("register and unregister are idempotent", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    a.register("k");
    a.register("k");
    await a.flush();
    expect(await b.lookup("k")).toEqual([routeOf("a")]);
    expect(await c.holders("k")).toEqual(["a"]);
    a.unregister("k");
    a.unregister("k");
    a.unregister("never-registered");
    await a.flush();
    expect(await b.lookup("k")).toEqual([]);
    // Registered again after an unregister: present again (the writes stay in order).
    a.register("k");
    a.unregister("k");
    a.register("k");
    await a.flush();
    expect(await b.lookup("k")).toEqual([routeOf("a")]);
    expect([...a.registeredKeys]).toEqual(["k"]);
  });

  it("several replicas may hold one key; exclude leaves one out; one leaving keeps the others", async () => {
    const c = newCluster();
    const [a, b, x] = [await c.replica("a"), await c.replica("b"), await c.replica("x")];
    a.register("shared");
    b.register("shared");
    await Promise.all([a.flush(), b.flush()]);
    expect(sortedRoutes(await x.lookup("shared"))).toEqual([routeOf("a"), routeOf("b")]);
    expect(await x.lookup("shared", { exclude: "a" })).toEqual([routeOf("b")]);
    a.unregister("shared");
    await a.flush();
    expect(await x.lookup("shared")).toEqual([routeOf("b")]);
  });

  it("keys are any strings, taken byte for byte (separators, unicode, empty)", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    const keys = ["", "a:key:b", "device/ä/🚗", " spaced ", "*"];
    for (const key of keys) a.register(key);
    await a.flush();
    for (const key of keys) {
      expect(await b.lookup(key)).toEqual([routeOf("a")]);
    }
    expect(await b.lookup("a")).toEqual([]); // no prefix or pattern matching
    expect(await b.lookup("device/a/🚗")).toEqual([]);
  });

  it("many keys are written in batches and all found", async () => {
    const c = newCluster();
    const b = await c.replica("b");
    const a = await c.replica("a");
    const keys = Array.from({ length: 1_234 }, (_, i) => `agent-${i}`);
    for (const key of keys) a.register(key);
    await a.flush();
    const found = await Promise.all(keys.map((key) => b.lookup(key)));
    expect(found.every((routes) => routes.length === 1 && routes[0].replicaId === "a")).toBe(true);
  });

  it("namespaces isolate clusters sharing one Redis", async () => {
    const one = newCluster();
    const other = newCluster();
    const a = await one.replica("a");
    const b = await one.replica("b");
    const otherA = await other.replica("a");
    const otherC = await other.replica("c");
    a.register("k");
    await a.flush();
    expect(await b.lookup("k")).toEqual([routeOf("a")]);
    expect(await otherC.lookup("k")).toEqual([]);
    // Same replica id and key in the other namespace: independent entries.
    otherA.register("k");
    await otherA.flush();
    a.unregister("k");
    await a.flush();
    expect(await otherC.lookup("k")).toEqual([routeOf("a")]);
    expect(await b.lookup("k")).toEqual([]);
    // A waiter in one namespace is woken by its own namespace only.
    const waiting = otherC.waitFor("w");
    b.register("w");
    await b.flush();
    otherA.register("w");
    expect(await waiting).toEqual([routeOf("a")]); // not b's route
  });

  it("close withdraws the replica's record and entries, keeps the others', and leaves no timer or socket", async () => {
    const baseline = watchedResources();
    const c = newCluster();
    const a = await c.replica("a", { leaseMs: 60_000, refreshMs: 20_000 });
    const b = await c.replica("b");
    for (const key of ["k1", "k2", "shared"]) a.register(key);
    b.register("shared");
    await Promise.all([a.flush(), b.flush()]);
    await a.close();
    expect(await b.lookup("k1")).toEqual([]);
    expect(await b.lookup("shared")).toEqual([routeOf("b")]);
    expect(await c.redisKeys()).toEqual([`${c.namespace}:key:shared`, `${c.namespace}:replica:b`]);
    expect(await c.holders("shared")).toEqual(["b"]);
    await b.close();
    expect(await c.redisKeys()).toEqual([]);
    await c.cleanup();
    expect(await settleLeaks(baseline)).toEqual({});
  });

  it("after close: lookups, flush and waitFor reject UNAVAILABLE, register is ignored, close is idempotent", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    const pending = outcome(a.waitFor("never"));
    await a.close();
    for (const result of [await pending, await outcome(a.lookup("k")), await outcome(a.flush()), await outcome(a.waitFor("k"))]) {
      expect(result.ok).toBe(false);
      const error = (result as { error: unknown }).error;
      expect(error).toBeInstanceOf(TunnelError);
      expect((error as TunnelError).code).toBe(Code.UNAVAILABLE);
      expect((error as TunnelError).message).toContain("cluster directory closed");
    }
    a.register("late");
    await a.close();
    expect(await b.lookup("late")).toEqual([]);
  });

  it("refuses bad options and non-string keys with clear errors", async () => {
    const c = newCluster();
    const base = { url: c.url, address: "relay:1" };
    await expect(RedisAffinityDirectory.open({ ...base, address: "" })).rejects.toThrow(/address must be a non-empty string/);
    await expect(RedisAffinityDirectory.open({ ...base, leaseMs: 0 })).rejects.toThrow(/leaseMs must be a positive/);
    await expect(RedisAffinityDirectory.open({ ...base, leaseMs: 1_000, refreshMs: 1_000 })).rejects.toThrow(
      /refreshMs must be shorter than leaseMs/,
    );
    await expect(RedisAffinityDirectory.open({ ...base, url: "http://127.0.0.1:1" })).rejects.toThrow(/redis:\/\/ or rediss:\/\//);
    await expect(RedisAffinityDirectory.open({ ...base, url: "not a url" })).rejects.toThrow(/not a valid URL/);
    const a = await c.replica("a");
    expect(() => a.register(42 as unknown as string)).toThrow(/affinity keys are strings, got number/);
    await expect(a.lookup({} as unknown as string)).rejects.toThrow(/affinity keys are strings, got object/);
    await expect(a.waitFor(undefined as unknown as string)).rejects.toThrow(/affinity keys are strings/);
  });

  it("the default lease is at most 10 s, refreshed at a third of it", async () => {
    const c = newCluster();
    const a = await c.replica("a", { leaseMs: undefined, refreshMs: undefined });
    expect(a.leaseMs).toBe(10_000);
    expect(a.refreshMs).toBe(3_333);
    a.register("k");
    await a.flush();
    const probe = await c.probe();
    const ttl = await probe.pTTL(`${c.namespace}:key:k`);
    expect(ttl).toBeGreaterThan(5_000);
    expect(ttl).toBeLessThanOrEqual(10_000);
    expect(await probe.pTTL(`${c.namespace}:replica:a`)).toBeLessThanOrEqual(10_000);
  });
});
