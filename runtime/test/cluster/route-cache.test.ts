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
