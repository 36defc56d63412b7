// Acceptance (issue #18): bounded memory through the relay. A caller on
// replica A pushes 1 GiB as one client stream to an agent held by replica B
// that keeps stopping to read: the windows of both tunnels hold the caller
// back (its lead over the agent stays small), and neither replica's heap
// grows by more than 64 MiB (forced GC in each replica process, sampled
// during every stall, when everything in flight is at its most).
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedRedis } from "../support/redis-server.js";
import { ProcessCluster, type ReplicaProcess } from "../support/replica-processes.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
let redis: Awaited<ReturnType<typeof sharedRedis>>;

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;
const MESSAGE = 64 * 1024;
/** The agent stops reading this often, for this long: a consumer slower than the caller. */
const STALL_EVERY = 128 * MiB;
const STALL_MS = 400;

beforeAll(async () => {
  redis = await sharedRedis();
});
afterAll(async () => {
  await cleanup.run();
  await redis.stop();
});

describe("bounded memory through a relay", () => {
  it("1 GiB into a slow agent: the caller is held back and no replica's heap grows by 64 MiB", async () => {
    const cluster = await ProcessCluster.start(cleanup, redis.url, 2);
    const [origin, owner] = cluster.replicas;
    cluster.unbalance(origin); // the agent connects to the owner
    const lags: number[] = [];
    let received = 0;
    // At the end of a stall (when the caller had the most time to get ahead): how far ahead it is, and both heaps.
    const stall = async (caller: ReplicaProcess) => {
      await sleep(STALL_MS);
      const { pushed } = await caller.request<{ pushed: number }>("pushed");
      lags.push(pushed - received);
      await Promise.all(cluster.replicas.map((replica) => replica.request("heapSample")));
    };
    const { replica } = await cluster.connectAgent({
      name: "slow-agent",
      key: "sink",
      impl: {
        async clientStream(requests) {
          let sinceStall = 0;
          await stall(origin); // the caller fills what it can before anything is read
          for await (const request of requests) {
            received += request.payload.length;
            sinceStall += request.payload.length;
            if (sinceStall >= STALL_EVERY) {
              sinceStall = 0;
              await stall(origin);
            }
          }
          return { count: received / MESSAGE };
        },
      },
    });
    expect(replica.replicaId).toBe(owner.replicaId);

    await Promise.all([origin.request("heapWatch"), owner.request("heapWatch")]);
    const pushed = await origin.request<{ pushed: number; count: number }>("push", { key: "sink", totalBytes: GiB, messageBytes: MESSAGE });
    const [originHeap, ownerHeap] = await Promise.all([
      origin.request<{ maxGrowth: number }>("heapStop"),
      owner.request<{ maxGrowth: number }>("heapStop"),
    ]);
    console.log(
      `1 GiB relayed: lead of the caller at stalls ${lags.map((l) => (l / MiB).toFixed(1)).join(", ")} MiB; ` +
        `heap growth: origin ${(originHeap.maxGrowth / MiB).toFixed(1)} MiB, owner ${(ownerHeap.maxGrowth / MiB).toFixed(1)} MiB`,
    );
    expect(pushed).toEqual({ pushed: GiB, count: GiB / MESSAGE });
    expect(received).toBe(GiB);
    expect(lags.length).toBeGreaterThanOrEqual(8);
    for (const lag of lags) {
      expect(lag).toBeLessThan(16 * MiB);
    }
    expect(originHeap.maxGrowth).toBeLessThan(64 * MiB);
    expect(ownerHeap.maxGrowth).toBeLessThan(64 * MiB);
  }, 240_000);
});
