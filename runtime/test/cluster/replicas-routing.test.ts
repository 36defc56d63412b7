// Acceptance (issue #18), with three replica processes on a real Redis and
// agents dialing them through a round-robin balancer: every replica reaches
// every key; relayed calls of all four kinds give the same results as local
// ones; deadlines and cancellation cross the relay.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, type HandlerContext } from "../../src/index.js";
import { deferred } from "../../src/deferred.js";
import { sharedRedis } from "../support/redis-server.js";
import { ProcessCluster, type ReplicaProcess } from "../support/replica-processes.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
let redis: Awaited<ReturnType<typeof sharedRedis>>;
let cluster: ProcessCluster;
/** Key → the replica holding its agent. */
const holders = new Map<string, ReplicaProcess>();

/** What the slow agent's handlers saw: when their call's signal aborted, and why. */
const slow = { cancelledAt: deferred<number>(), deadlineAt: deferred<{ at: number; code: number | undefined }>() };

beforeAll(async () => {
  redis = await sharedRedis();
  cluster = await ProcessCluster.start(cleanup, redis.url, 3);
  // Two agents per replica (the balancer deals connections round-robin; placement is read, not assumed).
  for (let i = 1; i <= 6; i++) {
    const { replica } = await cluster.connectAgent({ name: `agent-${i}`, key: `key-${i}` });
    holders.set(`key-${i}`, replica);
  }
  const { replica } = await cluster.connectAgent({
    name: "slow",
    key: "slow",
    impl: {
      // Answers the first response of a stream, then waits for the caller to go away.
      async *serverStream(_req, ctx: HandlerContext) {
        yield { count: 0 };
        await abortOf(ctx);
        slow.cancelledAt.resolve(Date.now());
      },
      // Never answers: the deadline ends it.
      async unary(_req, ctx: HandlerContext) {
        const reason = await abortOf(ctx);
        slow.deadlineAt.resolve({ at: Date.now(), code: (reason as { code?: number })?.code });
        throw reason;
      },
    },
  });
  holders.set("slow", replica);
}, 60_000);

afterAll(async () => {
  await cleanup.run();
  await redis.stop();
});

function abortOf(ctx: HandlerContext): Promise<unknown> {
  return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve(ctx.signal.reason), { once: true }));
}

/** A key held by `replica`'s own agent, and one held by another replica. */
function keysFor(replica: ReplicaProcess): { local: string; relayed: string } {
  const keys = [...holders].filter(([key]) => key.startsWith("key-"));
  return {
    local: keys.find(([, holder]) => holder === replica)![0],
    relayed: keys.find(([, holder]) => holder !== replica)![0],
  };
}

describe("three replica processes behind a balancer", () => {
  it("spread the agents over the replicas, and every replica reaches every key", async () => {
    expect(new Set(holders.values()).size).toBe(3);
    for (const replica of cluster.replicas) {
      for (let i = 1; i <= 6; i++) {
        const res = await replica.request<{ servedBy: string; payload: string }>("unary", { key: `key-${i}` });
        expect(res).toMatchObject({ servedBy: `agent-${i}`, payload: `key-${i}` });
      }
    }
  });

  it.each(["local", "relayed"] as const)(
    "every call kind gives the same results for a %s key: payloads, metadata, headers (with tunnel-served-by), trailers, status with details",
    async (mode) => {
      const origin = cluster.replicas[0];
      const key = keysFor(origin)[mode];
      expect(holders.get(key) === origin).toBe(mode === "local");
      const agent = `agent-${key.slice("key-".length)}`;
      const result = await origin.request<Record<string, unknown>>("kinds", { key });
      // The response headers also say which replica's tunnel carried the call.
      const headers = { "x-h": ["header-value"], "tunnel-served-by": [holders.get(key)!.replicaId] };
      const trailers = { "x-t": ["trailer-value"] };
      // google.protobuf.StringValue "a detail", packed in an Any.
      const detail = {
        typeUrl: "type.googleapis.com/google.protobuf.StringValue",
        value: Buffer.from("\n\x08a detail").toString("base64"),
      };
      expect(result).toEqual({
        unary: { servedBy: agent, payload: [1, 2, 3], echoedCaller: "replica-test", headers, trailers },
        unaryError: { code: Code.FAILED_PRECONDITION, message: "error", details: [detail], trailers, headers },
        clientStream: { servedBy: agent, count: 3, payloadBytes: 300, headers, trailers },
        serverStream: { responses: Array(4).fill({ servedBy: agent, payload: "each" }), headers, trailers },
        serverStreamError: { received: 2, code: Code.NOT_FOUND, message: "error", details: [detail], trailers, headers },
        bidiStream: {
          replies: [0, 1, 2].map((i) => ({ servedBy: agent, count: i + 1, payload: [i] })),
          headers,
          trailers,
        },
      });
    },
  );

  it("a caller's cancel crosses the relay: the agent's handler sees it within 100 ms", async () => {
    const origin = cluster.replicas.find((r) => r !== holders.get("slow"))!;
    const { abortedAt, code } = await origin.request<{ abortedAt: number; code: number }>("cancelAfterFirst", { key: "slow" });
    expect(code).toBe(Code.CANCELLED);
    const seenAt = await slow.cancelledAt.promise;
    expect(seenAt - abortedAt).toBeLessThan(100);
  });

  it("a 200 ms deadline across the relay ends the call with DEADLINE_EXCEEDED within 300 ms, and the agent's handler with it", async () => {
    const origin = cluster.replicas.find((r) => r !== holders.get("slow"))!;
    const startedAt = Date.now();
    const { code, ms } = await origin.request<{ code: number; ms: number }>("deadline", { key: "slow", timeoutMs: 200 });
    expect(code).toBe(Code.DEADLINE_EXCEEDED);
    expect(ms).toBeGreaterThanOrEqual(195);
    expect(ms).toBeLessThan(300);
    const seen = await slow.deadlineAt.promise;
    // The agent's handler ends by its own copy of the deadline, or by the
    // cancel the caller sends when its deadline passes, whichever reaches it
    // first: a cancel frame carries no reason (as in Go), and every hop's
    // deadline is a little later than the one before it.
    expect([Code.DEADLINE_EXCEEDED, Code.CANCELLED]).toContain(seen.code);
    expect(seen.at - startedAt).toBeLessThan(400);
  });
});
