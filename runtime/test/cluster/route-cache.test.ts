// The route cache of cluster mode: where keys were found lately, kept for
// ttlMs, dropped when a replica proves unreachable. A route kept too long
// sends calls to a replica that is gone.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { AffinityRoute } from "../../src/cluster.js";
import { RouteCache } from "../../src/cluster/route-cache.js";

const route = (replicaId: string): AffinityRoute => ({ replicaId, address: `relay-${replicaId}:7000` });

afterEach(() => {
  vi.useRealTimers();
});

describe("RouteCache", () => {
  it("forgetReplica drops every route naming an unreachable replica, shared ones too, and keeps the others", () => {
    const cache = new RouteCache(60_000);
    cache.set("on-a", [route("a")]);
    cache.set("on-b", [route("b")]);
    cache.set("on-both", [route("b"), route("a")]);
    cache.forgetReplica("a");
    expect(cache.get("on-a")).toBeUndefined();
    expect(cache.get("on-both")).toBeUndefined();
    expect(cache.get("on-b")).toEqual([route("b")]);
    cache.forgetReplica("nobody");
    expect(cache.get("on-b")).toEqual([route("b")]);
  });

  it("forget drops one key's routes", () => {
    const cache = new RouteCache(60_000);
    cache.set("k1", [route("a")]);
    cache.set("k2", [route("a")]);
    cache.forget("k1");
    expect(cache.get("k1")).toBeUndefined();
    expect(cache.get("k2")).toEqual([route("a")]);
  });

  it("a route is kept for ttlMs and not a millisecond longer", () => {
    vi.useFakeTimers({ now: 0, toFake: ["performance"] });
    const cache = new RouteCache(1_000);
    cache.set("k", [route("a")]);
    vi.advanceTimersByTime(999);
    expect(cache.get("k")).toEqual([route("a")]);
    vi.advanceTimersByTime(1);
    expect(cache.get("k")).toBeUndefined();
    // Gone for good, not just hidden: a later clock cannot bring it back.
    expect(cache.get("k")).toBeUndefined();
  });

  it("setting a key again replaces its routes and restarts its ttl", () => {
    vi.useFakeTimers({ now: 0, toFake: ["performance"] });
    const cache = new RouteCache(1_000);
    cache.set("k", [route("a")]);
    vi.advanceTimersByTime(600);
    cache.set("k", [route("b")]);
    vi.advanceTimersByTime(600);
    expect(cache.get("k")).toEqual([route("b")]);
  });

  it("keeps nothing when the ttl is 0 (caching off), and no key found nowhere (a key that appears is seen at once)", () => {
    const off = new RouteCache(0);
    off.set("k", [route("a")]);
    expect(off.get("k")).toBeUndefined();
    const cache = new RouteCache(60_000);
    cache.set("k", [route("a")]);
    cache.set("k", []);
    expect(cache.get("k")).toBeUndefined();
  });

  it("holds at most 10,000 keys: past that the oldest set goes first", () => {
    const cache = new RouteCache(60_000);
    for (let i = 0; i < 10_000; i++) cache.set(`k${i}`, [route("a")]);
    cache.set("k0", [route("b")]); // set again: now the newest
    cache.set("k10000", [route("a")]);
    expect(cache.get("k1")).toBeUndefined();
    expect(cache.get("k0")).toEqual([route("b")]);
    expect(cache.get("k2")).toEqual([route("a")]);
    expect(cache.get("k10000")).toEqual([route("a")]);
  });
});

describe("RouteCache.lookup: calls to a cold key share one directory lookup", () => {
  /** A lookup that counts its runs and settles when the test says. */
  function gatedLookup() {
    let runs = 0;
    const gates: Array<{ resolve: (routes: AffinityRoute[]) => void; reject: (error: Error) => void }> = [];
    const lookup = () => {
      runs++;
      return new Promise<AffinityRoute[]>((resolve, reject) => gates.push({ resolve, reject }));
    };
    return { lookup, runs: () => runs, gate: (i: number) => gates[i]! };
  }

  it("1,000 concurrent misses run one lookup, all get its routes, and the next call finds them cached", async () => {
    const cache = new RouteCache(60_000);
    const { lookup, runs, gate } = gatedLookup();
    const all = Array.from({ length: 1000 }, () => cache.lookup("cold", lookup));
    expect(runs()).toBe(1);
    gate(0).resolve([route("b")]);
    const results = await Promise.all(all);
    expect(results.every((routes) => routes.length === 1 && routes[0]!.replicaId === "b")).toBe(true);
    expect(cache.get("cold")).toEqual([route("b")]);
    const again = cache.lookup("cold", lookup);
    expect(runs()).toBe(1);
    expect(await again).toEqual([route("b")]);
  });

  it("different keys do not share a lookup", async () => {
    const cache = new RouteCache(60_000);
    const { lookup, runs, gate } = gatedLookup();
    const a = cache.lookup("a", lookup);
    const b = cache.lookup("b", lookup);
    expect(runs()).toBe(2);
    gate(0).resolve([route("r1")]);
    gate(1).resolve([route("r2")]);
    expect(await a).toEqual([route("r1")]);
    expect(await b).toEqual([route("r2")]);
  });

  it("a failed lookup fails every call that shared it, is not kept, and the next miss looks up again", async () => {
    const cache = new RouteCache(60_000);
    const { lookup, runs, gate } = gatedLookup();
    const first = cache.lookup("k", lookup);
    const second = cache.lookup("k", lookup);
    gate(0).reject(new Error("directory down"));
    await expect(first).rejects.toThrow("directory down");
    await expect(second).rejects.toThrow("directory down");
    expect(cache.get("k")).toBeUndefined();
    const third = cache.lookup("k", lookup);
    expect(runs()).toBe(2);
    gate(1).resolve([route("a")]);
    expect(await third).toEqual([route("a")]);
  });

  it("a key found nowhere is shared while it runs but not kept: the next miss asks again", async () => {
    const cache = new RouteCache(60_000);
    const { lookup, runs, gate } = gatedLookup();
    const both = [cache.lookup("k", lookup), cache.lookup("k", lookup)];
    gate(0).resolve([]);
    expect(await Promise.all(both)).toEqual([[], []]);
    void cache.lookup("k", lookup);
    expect(runs()).toBe(2);
  });
});
