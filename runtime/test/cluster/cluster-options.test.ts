// joinCluster's options: each limit checked at its exact bound, with the
// error naming the option, before anything connects.
import { describe, expect, it } from "vitest";
import { joinCluster, type JoinClusterOptions, RedisAffinityDirectory, type RedisAffinityDirectoryOptions } from "../../src/cluster.js";
import { clusterPerTest } from "../support/cluster.js";

const newCluster = clusterPerTest();

const SECRET = "s".repeat(16);
const UNUSED_REDIS = "redis://127.0.0.1:1"; // never reached: the options fail first

describe("joinCluster options", () => {
  it.each([
    [{ relay: undefined }, TypeError, "cluster: relay.address (host:port of this replica's relay listener) is required"],
    [{ relay: { secret: SECRET } }, TypeError, "cluster: relay.address (host:port of this replica's relay listener) is required"],
    [
      { relay: { address: "", secret: SECRET } },
      TypeError,
      "cluster: relay.address (host:port of this replica's relay listener) is required",
    ],
    [{ relay: { address: "r:1", secret: "s".repeat(15) } }, TypeError, "cluster: relay.secret must be a string of at least 16 characters"],
    [{ relay: { address: "r:1" } }, TypeError, "cluster: relay.secret must be a string of at least 16 characters"],
    [
      { relay: { address: "r:1", secret: SECRET, connectTimeoutMs: 0 } },
      RangeError,
      "cluster: relay.connectTimeoutMs must be a positive whole number of milliseconds",
    ],
    [
      { relay: { address: "r:1", secret: SECRET, connectTimeoutMs: 1.5 } },
      RangeError,
      "cluster: relay.connectTimeoutMs must be a positive whole number of milliseconds",
    ],
    [
      { relay: { address: "r:1", secret: SECRET, tunnelsPerPeer: 0 } },
      RangeError,
      "cluster: relay.tunnelsPerPeer must be a whole number >= 1",
    ],
    [
      { relay: { address: "r:1", secret: SECRET }, routeCacheMs: -1 },
      RangeError,
      "joinCluster: routeCacheMs must be a whole number of milliseconds >= 0",
    ],
    [
      { relay: { address: "r:1", secret: SECRET }, routeCacheMs: 0.5 },
      RangeError,
      "joinCluster: routeCacheMs must be a whole number of milliseconds >= 0",
    ],
  ])("refuses %o", async (options, type, message) => {
    const result = joinCluster({ redisUrl: UNUSED_REDIS, ...options } as JoinClusterOptions);
    await expect(result).rejects.toThrow(type);
    await expect(result).rejects.toThrow(new type(message));
  });

  it("takes every limit at its bound: a 16-character secret, 1 ms, one tunnel per peer, no route cache", async () => {
    const c = newCluster();
    const directory = await c.replica("a");
    const cluster = await joinCluster({
      directory,
      relay: { address: directory.address, secret: SECRET, connectTimeoutMs: 1, tunnelsPerPeer: 1 },
      routeCacheMs: 0,
    });
    await cluster.close();
  });
});

describe("RedisAffinityDirectory options", () => {
  const base = { url: UNUSED_REDIS, address: "relay:1" };
  it.each([
    [{ address: "" }, TypeError, "cluster directory: address must be a non-empty string"],
    [{ replicaId: "" }, TypeError, "cluster directory: replicaId must be a non-empty string"],
    [{ namespace: "" }, TypeError, "cluster directory: namespace must be a non-empty string"],
    [{ leaseMs: 0 }, RangeError, "cluster directory: leaseMs must be a positive whole number of milliseconds"],
    [{ leaseMs: 1.5 }, RangeError, "cluster directory: leaseMs must be a positive whole number of milliseconds"],
    [{ refreshMs: 0 }, RangeError, "cluster directory: refreshMs must be a positive whole number of milliseconds"],
    [{ leaseMs: 1_000, refreshMs: 1_000 }, RangeError, "cluster directory: refreshMs must be shorter than leaseMs"],
    [{ commandTimeoutMs: 0 }, RangeError, "cluster directory: commandTimeoutMs must be a positive whole number of milliseconds"],
    [{ maxPendingRemovalBytes: -1 }, RangeError, "cluster directory: maxPendingRemovalBytes must be a whole number of bytes >= 0"],
    [{ maxPendingRemovalBytes: 0.5 }, RangeError, "cluster directory: maxPendingRemovalBytes must be a whole number of bytes >= 0"],
  ])("refuses %o", async (options, type, message) => {
    const result = RedisAffinityDirectory.open({ ...base, ...options } as RedisAffinityDirectoryOptions);
    await expect(result).rejects.toThrow(type);
    await expect(result).rejects.toThrow(new type(message));
  });

  it("takes its limits at their bounds: no room for pending removals, a lease of 2 ms refreshed every 1 ms", async () => {
    const c = newCluster();
    const directory = await c.replica("a", { maxPendingRemovalBytes: 0, leaseMs: 2, refreshMs: 1, commandTimeoutMs: 1_000 });
    expect([directory.leaseMs, directory.refreshMs]).toEqual([2, 1]);
  });
});
