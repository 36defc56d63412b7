// What a replica's directory keeps for Redis while Redis cannot be written
// (issue #25, finding 6): keys Redis never saw need no removal, the last
// state of a key wins, and removals beyond maxPendingRemovalBytes are
// dropped (counted, logged once per outage) and end with their leases.
// Redis stays up with its data behind a gate that cuts the replica off.
import { afterEach, describe, expect, it } from "vitest";
import { removalCost, type RedisAffinityDirectory } from "../../src/cluster/directory/index.js";
import { subscribeDiagnostics } from "../../src/index.js";
import type { DirectoryRemovalsDroppedEvent } from "../../src/protocol.js";
import { ClusterFixture, gatedCluster, routeOf } from "../support/cluster.js";
import { eventually } from "../support/conditions.js";
import { EventLog, outcome } from "../support/events.js";
import { RedisServer } from "../support/redis-server.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Replica "a" behind a gate, replica "b" straight on Redis. */
async function gatedReplicas(options: Parameters<ClusterFixture["replica"]>[1] = {}) {
  const { gate, c } = await gatedCluster(cleanup);
  const a = await c.replica("a", { url: gate.url, ...options });
  const b = await c.replica("b");
  /** Cuts `a` off Redis; resolves once `a` knows. */
  const outage = async () => {
    gate.down();
    await eventually(
      "a has lost Redis",
      async () => (await outcome(a.lookup("any"))).ok,
      (ok) => !ok,
      5_000,
    );
  };
  return { c, a, b, gate, outage };
}

/** Process warnings from now on. */
function warnings(): EventLog<string> {
  const log = new EventLog<string>();
  const onWarning = (warning: Error) => log.push(warning.message);
  process.on("warning", onWarning);
  cleanup.add(() => process.off("warning", onWarning));
  return log;
}

const pendingOf = (a: RedisAffinityDirectory) => a.pendingRemovals;

describe("cluster directory: what waits for Redis during an outage", () => {
  it("keys registered and unregistered during the outage leave nothing pending; per key the last state wins", async () => {
    // Long leases: only the writes after the outage, not expiry, can remove what a unregistered.
    const { c, a, b, gate, outage } = await gatedReplicas({ leaseMs: 60_000, refreshMs: 20_000 });
    a.register("before");
    a.register("kept");
    await a.flush();

    await outage();
    for (let i = 0; i < 1_000; i++) {
      a.register(`during-${i}`);
      a.unregister(`during-${i}`);
    }
    expect(pendingOf(a)).toEqual({ keys: 0, bytes: 0, dropped: 0 });
    a.unregister("before");
    expect(pendingOf(a)).toEqual({ keys: 1, bytes: removalCost("before"), dropped: 0 });
    a.register("before"); // back: nothing to remove
    expect(pendingOf(a).keys).toBe(0);
    a.unregister("before");
    a.register("added");
    expect(pendingOf(a)).toEqual({ keys: 1, bytes: removalCost("before"), dropped: 0 });
    expect(await b.lookup("before")).toEqual([routeOf("a")]); // Redis still has the old state

    gate.up();
    await eventually(
      "a's last state in Redis",
      async () => [await b.lookup("before"), await b.lookup("kept"), await b.lookup("added")],
      ([before, kept, added]) => before.length === 0 && kept.length === 1 && added.length === 1,
      5_000,
    );
    expect(pendingOf(a)).toEqual({ keys: 0, bytes: 0, dropped: 0 });
    const keys = await c.redisKeys();
    expect(keys.filter((key) => key.includes(":key:")).sort()).toEqual([`${c.namespace}:key:added`, `${c.namespace}:key:kept`]);
  });

  it("removals over maxPendingRemovalBytes: the oldest are dropped, counted and logged once per outage; Redis converges within a lease", async () => {
    const cost = removalCost("key-0");
    const { c, a, gate, outage } = await gatedReplicas({ maxPendingRemovalBytes: 3 * cost });
    const logged = warnings();
    const dropped = new EventLog<DirectoryRemovalsDroppedEvent>();
    cleanup.add(subscribeDiagnostics({ directoryRemovalsDropped: (event) => dropped.push(event) }));
    const keys = Array.from({ length: 10 }, (_, i) => `key-${i}`);
    for (const key of keys) a.register(key);
    await a.flush();

    await outage();
    for (const key of keys) a.unregister(key);
    expect(pendingOf(a)).toEqual({ keys: 3, bytes: 3 * cost, dropped: 7 });
    expect(dropped.items.map((e) => e.dropped).reduce((x, y) => x + y)).toBe(7);
    expect(dropped.items.at(-1)).toEqual({ replicaId: "a", dropped: 1, droppedTotal: 7, pendingKeys: 3, pendingBytes: 3 * cost });
    const overLimit = (w: string) =>
      w ===
      `grpctunnel: cluster directory a: Redis cannot be written and the removals waiting for it reached maxPendingRemovalBytes (${3 * cost}); ` +
        "dropping the oldest, whose entries end with their leases (not logged again until Redis has them all)";
    await logged.waitFor(overLimit); // (warnings are emitted on the next tick)

    // Back: the three pending removals are written; the seven dropped end with their leases.
    gate.up();
    await eventually(
      "no entry of a's keys left in Redis",
      () => c.redisKeys(),
      (found) => !found.some((key) => key.includes(":key:")),
      10_000,
    );
    expect(pendingOf(a)).toEqual({ keys: 0, bytes: 0, dropped: 7 });

    // A second outage is a new episode: logged again.
    for (const key of keys) a.register(key);
    await a.flush();
    await outage();
    for (const key of keys) a.unregister(key);
    expect(pendingOf(a).dropped).toBe(14);
    await logged.waitForCount(2, overLimit);
    expect(logged.items.filter(overLimit)).toHaveLength(2); // one per outage, not one per dropped removal
  });

  it("maxPendingRemovalBytes must be a whole number of bytes", async () => {
    const server = await RedisServer.start();
    cleanup.add(() => server.stop());
    const c = new ClusterFixture(server.url);
    cleanup.add(() => c.cleanup());
    await expect(c.replica("a", { maxPendingRemovalBytes: -1 })).rejects.toThrow(RangeError);
    await expect(c.replica("a", { maxPendingRemovalBytes: 1.5 })).rejects.toThrow(/whole number of bytes/);
  });
});
