import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { clusterPerTest, routeOf, sortedRoutes } from "../support/cluster.js";
import { outcome } from "../support/events.js";

const newCluster = clusterPerTest();

/** A promise, and whether it has resolved yet. */
function tracked<T>(promise: Promise<T>): { promise: Promise<T>; resolved: () => boolean } {
  let resolved = false;
  void promise.then(() => (resolved = true));
  return { promise, resolved: () => resolved };
}

describe("cluster directory: waitFor", () => {
  it("is woken by a registration on another replica, with its route", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    const waiting = tracked(b.waitFor("camera-7"));
    await c.untilSubscribers("camera-7", (n) => n > 0);
    // Nothing registered yet: still waiting after a full round trip through Redis.
    expect(await b.lookup("camera-7")).toEqual([]);
    expect(waiting.resolved()).toBe(false);
    a.register("camera-7");
    expect(await waiting.promise).toEqual([routeOf("a")]);
  });

  it("resolves at once for a key registered before it subscribed", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    a.register("k");
    await a.flush();
    expect(await b.waitFor("k")).toEqual([routeOf("a")]);
    // And with several holders, all of them.
    b.register("k2");
    a.register("k2");
    await Promise.all([a.flush(), b.flush()]);
    const x = await c.replica("x");
    expect(sortedRoutes(await x.waitFor("k2"))).toEqual([routeOf("a"), routeOf("b")]);
  });

  it("never misses a registration racing with its subscription (many keys, both orders)", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    const keys = Array.from({ length: 200 }, (_, i) => `race-${i}`);
    const waits = keys.map((key, i) => {
      // Half register before waiting starts, half right after, all in the same turn.
      if (i % 2 === 0) a.register(key);
      const waiting = b.waitFor(key);
      if (i % 2 === 1) a.register(key);
      return waiting;
    });
    const results = await Promise.all(waits);
    expect(results.every((routes) => routes.length === 1 && routes[0].replicaId === "a")).toBe(true);
  });

  it("waiters of one key each apply their own exclude", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    const first = b.waitFor("k", { exclude: "a" });
    await c.untilSubscribers("k", (n) => n > 0);
    a.register("k");
    await a.flush();
    // The first waiter excludes a, so it still waits; a later waiter must still see a.
    expect(await b.waitFor("k")).toEqual([routeOf("a")]);
    const x = await c.replica("x");
    x.register("k");
    expect(await first).toEqual([routeOf("x")]);
  });

  it("exclude ignores the replica's own registration", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    const excluding = tracked(a.waitFor("k", { exclude: "a" }));
    const plain = a.waitFor("k");
    await c.untilSubscribers("k", (n) => n > 0);
    a.register("k");
    // The plain waiter is woken by a's own registration; the excluding one,
    // looked at in the same turn, stays.
    expect(await plain).toEqual([routeOf("a")]);
    expect(excluding.resolved()).toBe(false);
    b.register("k");
    expect(await excluding.promise).toEqual([routeOf("b")]);
  });

  it("abort rejects with the signal's reason and unsubscribes from Redis", async () => {
    const c = newCluster();
    const b = await c.replica("b");
    const controller = new AbortController();
    const waiting = outcome(b.waitFor("k", { signal: controller.signal }));
    const other = b.waitFor("k"); // a second waiter on the same key keeps the channel
    await c.untilSubscribers("k", (n) => n > 0);
    const reason = new Error("caller gave up");
    controller.abort(reason);
    expect(await waiting).toEqual({ ok: false, error: reason });
    expect(await c.subscribers("k")).toBe(1);
    const lastController = new AbortController();
    const last = outcome(b.waitFor("k", { signal: lastController.signal }));
    const a = await c.replica("a");
    a.register("k");
    expect(await other).toEqual([routeOf("a")]);
    expect(await last).toEqual({ ok: true, value: [routeOf("a")] });
    // Nobody waits any more: the channel is released.
    await c.untilSubscribers("k", (n) => n === 0);
  });

  it("an already aborted signal rejects at once without subscribing", async () => {
    const c = newCluster();
    const b = await c.replica("b");
    const reason = new Error("too late");
    expect(await outcome(b.waitFor("k", { signal: AbortSignal.abort(reason) }))).toEqual({ ok: false, error: reason });
    expect(await c.subscribers("k")).toBe(0);
  });

  it("a wait that ended, found or failed, leaves no listener on the caller's signal", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    const controller = new AbortController();
    const listeners = () => getEventListeners(controller.signal, "abort").length;
    const found = b.waitFor("k", { signal: controller.signal });
    expect(listeners()).toBe(1);
    a.register("k");
    expect(await found).toEqual([routeOf("a")]);
    expect(listeners()).toBe(0);
    // Failed: the directory closed under it.
    const failed = outcome(b.waitFor("never", { signal: controller.signal }));
    expect(listeners()).toBe(1);
    await b.close();
    expect(await failed).toMatchObject({ ok: false, error: { code: 14 } });
    expect(listeners()).toBe(0);
  });
});
