import { afterEach, describe, expect, it } from "vitest";
import { Code, TunnelError } from "../../src/index.js";
import { RedisAffinityDirectory } from "../../src/cluster.js";
import { ClusterFixture, routeOf } from "../support/cluster.js";
import { eventually } from "../support/conditions.js";
import { outcome, timed } from "../support/events.js";
import { settleLeaks, watchedResources } from "../faults/leaks.js";
import { RedisGate } from "../support/redis-gate.js";
import { RedisServer } from "../support/redis-server.js";

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A Redis of this test's own, which it kills, pauses and restarts. */
async function ownRedis(): Promise<RedisServer> {
  const server = await RedisServer.start();
  cleanups.push(() => server.stop());
  return server;
}

function fixture(url: string): ClusterFixture {
  const c = new ClusterFixture(url);
  cleanups.push(() => c.cleanup());
  return c;
}

/** Asserts a rejection is a TunnelError UNAVAILABLE whose message names the cluster directory and Redis. */
function expectUnavailable(result: { ok: boolean; error?: unknown }, server: RedisServer, cause: RegExp): void {
  expect(result.ok).toBe(false);
  const error = result.error;
  expect(error).toBeInstanceOf(TunnelError);
  expect((error as TunnelError).code).toBe(Code.UNAVAILABLE);
  expect((error as TunnelError).message).toContain(`cluster directory unavailable: Redis at 127.0.0.1:${server.port}`);
  expect((error as TunnelError).message).toMatch(cause);
}

describe("cluster directory: Redis faults", () => {
  it("Redis killed: lookups and flush fail fast naming the cause, register/unregister keep working locally", async () => {
    const server = await ownRedis();
    const c = fixture(server.url);
    const a = await c.replica("a");
    const b = await c.replica("b");
    a.register("k1");
    await a.flush();
    expect(await b.lookup("k1")).toEqual([routeOf("a")]);

    await server.kill();
    for (let i = 0; i < 5; i++) {
      const { ms, result } = await timed(b.lookup("k1"));
      expect(ms).toBeLessThan(500);
      expectUnavailable(result, server, /not reachable|Socket closed unexpectedly|ECONNREFUSED|ECONNRESET/);
    }
    // Once the client has tried to reconnect, the cause named is the refused connection.
    await eventually(
      "the refused reconnection named",
      async () => outcome(b.lookup("k1")),
      (r) => !r.ok && /ECONNREFUSED/.test((r.error as Error).message),
      5_000,
    );
    const later = await timed(b.lookup("k1"));
    expect(later.ms).toBeLessThan(500);
    expectUnavailable(later.result, server, /is not reachable \(.*ECONNREFUSED/);

    expect(() => {
      a.register("k2");
      a.unregister("k1");
      a.register("k1");
      a.unregister("k2");
    }).not.toThrow();
    expect([...a.registeredKeys].sort()).toEqual(["k1"]);
    const flushed = await timed(a.flush());
    expect(flushed.ms).toBeLessThan(500);
    expectUnavailable(flushed.result, server, /not reachable/);
    // Each connection of both replicas (commands, subscriber) reported its loss
    // once, through onError rather than as an unhandled 'error' event.
    const lost = async () =>
      c.reported
        .filter((r) => /lost the connection/.test(r.error.message))
        .map((r) => r.replicaId)
        .sort()
        .join();
    await eventually("every connection reported lost", lost, (ids) => ids === "a,a,b,b", 5_000);
  });

  it("Redis restarted empty: every replica re-asserts its record and keys without any re-register", async () => {
    const server = await ownRedis();
    const c = fixture(server.url);
    const a = await c.replica("a");
    const b = await c.replica("b");
    for (const key of ["a1", "a2", "shared"]) a.register(key);
    for (const key of ["b1", "shared"]) b.register(key);
    await Promise.all([a.flush(), b.flush()]);
    const before = await c.redisKeys();
    // A key nobody re-asserts, to show the restart lost everything.
    const marker = `${c.namespace}:marker`;
    await (await c.probe()).set(marker, "before the restart");

    await server.kill();
    // Changes while Redis is down are kept locally.
    a.register("a3");
    a.unregister("a2");
    await server.restart();

    const expected = [...before.filter((key) => !key.endsWith(":key:a2")), `${c.namespace}:key:a3`].sort();
    await eventually(
      "every entry back in Redis",
      () => c.redisKeys(),
      (keys) => keys.join() === expected.join(),
      5_000,
    );
    expect(await (await c.probe()).exists(marker)).toBe(0);
    expect(await c.holders("shared")).toEqual(["a", "b"]);
    expect(await b.lookup("a3")).toEqual([routeOf("a")]);
    expect(await b.lookup("a2")).toEqual([]);
    expect(await a.lookup("b1")).toEqual([routeOf("b")]);
    // Leases are live again, not bare keys: each entry expires within the lease.
    const probe = await c.probe();
    for (const key of expected) {
      const ttl = await probe.pTTL(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(a.leaseMs);
    }
  });

  it("a waiter keeps waiting through a Redis restart and is woken by a key registered while Redis was down", async () => {
    const server = await ownRedis();
    const c = fixture(server.url);
    const a = await c.replica("a");
    const b = await c.replica("b");
    const waiting = outcome(b.waitFor("k"));
    await c.untilSubscribers("k", (n) => n === 1);

    await server.kill();
    a.register("k");
    await server.restart();
    expect(await waiting).toEqual({ ok: true, value: [routeOf("a")] });
  });

  it("Redis unreachable with its data kept: unregisters and registers made meanwhile reach it when it is back", async () => {
    const server = await ownRedis();
    const gate = await RedisGate.start(server.port);
    cleanups.push(() => gate.close());
    const c = fixture(server.url);
    // Long leases: only the re-assert, not expiry, can remove what a unregistered.
    const a = await c.replica("a", { url: gate.url, leaseMs: 60_000, refreshMs: 20_000 });
    const b = await c.replica("b");
    a.register("kept");
    a.register("dropped");
    await a.flush();

    gate.down();
    await eventually(
      "a has lost Redis",
      async () => (await outcome(a.lookup("kept"))).ok,
      (ok) => !ok,
      5_000,
    );
    a.unregister("dropped");
    a.register("added");
    expect(await b.lookup("dropped")).toEqual([routeOf("a")]); // Redis still has the old state

    gate.up();
    await eventually(
      "a's changes in Redis",
      async () => [await b.lookup("kept"), await b.lookup("dropped"), await b.lookup("added")],
      ([kept, dropped, added]) => kept.length === 1 && dropped.length === 0 && added.length === 1,
      5_000,
    );
    expect(await c.holders("dropped")).toEqual([]);
  });

  it("Redis hangs (SIGSTOP): lookups and flush fail after commandTimeoutMs naming the cause, then recover", async () => {
    const server = await ownRedis();
    const c = fixture(server.url);
    const a = await c.replica("a", { commandTimeoutMs: 300 });
    const b = await c.replica("b", { commandTimeoutMs: 300 });
    a.register("k");
    await a.flush();

    server.pause();
    try {
      const { ms, result } = await timed(b.lookup("k"));
      expect(ms).toBeGreaterThanOrEqual(290);
      expect(ms).toBeLessThan(1_000);
      expectUnavailable(result, server, /did not answer within 300 ms/);
      a.register("k2");
      expectUnavailable(await outcome(a.flush()), server, /did not answer within 300 ms/);
    } finally {
      server.resume();
    }
    await eventually(
      "lookups answered again",
      async () => outcome(b.lookup("k2")),
      (r) => r.ok && r.value.length === 1,
      5_000,
    );
    expect(await b.lookup("k")).toEqual([routeOf("a")]);
  });

  it("open() rejects UNAVAILABLE naming the cause when Redis cannot be reached, and leaves nothing running", async () => {
    const server = await ownRedis();
    await server.kill();
    const baseline = watchedResources();
    const { ms, result } = await timed(RedisAffinityDirectory.open({ url: server.url, address: "relay:1" }));
    expect(ms).toBeLessThan(1_000);
    expectUnavailable(result, server, /is not reachable \(.*ECONNREFUSED/);
    expect(await settleLeaks(baseline)).toEqual({});
  });
});
