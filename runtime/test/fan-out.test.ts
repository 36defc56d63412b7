// forEachAgent over a fleet of in-process agents: bounded concurrency,
// partial failures, selections, time limits, early exit, and keys read
// only as slots free up (memory bounded whatever the fleet size).
import { afterEach, describe, expect, it } from "vitest";
import {
  Code,
  TunnelError,
  TunnelServiceHandler,
  createTunnelClient,
  forEachAgent,
  type AgentResult,
  type CallChannel,
} from "../src/index.js";
import { pagedKeys } from "../src/protocol.js";
import { startTestAgent, type TestAgent } from "../src/testing.js";
import { eventually } from "./support/conditions.js";
import { Cleanup } from "./support/servers.js";
import { StoreService, type Item } from "./support/store-service.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Agents answering Get with their key; those whose key ends in "7" fail with UNAVAILABLE. Counts calls in flight. */
async function fleet(size: number) {
  const handler = new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("device-id")[0] ?? "") });
  const load = { inFlight: 0, peak: 0, calls: 0 };
  const agents: TestAgent[] = [];
  for (let i = 0; i < size; i++) {
    const key = `device-${String(i).padStart(4, "0")}`;
    agents.push(
      await startTestAgent(handler, {
        metadata: { "device-id": key },
        register: (server) =>
          server.registerService(StoreService, {
            async get() {
              load.calls++;
              load.inFlight++;
              load.peak = Math.max(load.peak, load.inFlight);
              // Let the other calls of the batch arrive before answering.
              await new Promise((resolve) => setImmediate(resolve));
              load.inFlight--;
              if (key.endsWith("7")) {
                throw new TunnelError(Code.UNAVAILABLE, `${key} is offline`);
              }
              return { key, value: "ok" };
            },
          }),
      }),
    );
  }
  cleanup.add(() => Promise.all(agents.map((agent) => agent.stop())));
  return { handler, load };
}

const getKey = (channel: CallChannel) => createTunnelClient(StoreService, channel).get({});

async function collect<K, R>(results: AsyncIterable<AgentResult<K, R>>): Promise<AgentResult<K, R>[]> {
  const all: AgentResult<K, R>[] = [];
  for await (const result of results) {
    all.push(result);
  }
  return all;
}

describe("forEachAgent", () => {
  it("calls 1,000 agents at most `concurrency` at once and reports every result and failure once", { timeout: 120_000 }, async () => {
    const { handler, load } = await fleet(1_000);
    const results = await collect(forEachAgent(handler, { all: true }, getKey, { concurrency: 25 }));
    expect(results).toHaveLength(1_000);
    expect(new Set(results.map((r) => r.key)).size).toBe(1_000);
    expect(load.calls).toBe(1_000);
    expect(load.peak).toBeLessThanOrEqual(25);
    expect(load.peak).toBeGreaterThan(1); // it did run calls concurrently
    const failed = results.filter((r) => !r.ok);
    expect(failed).toHaveLength(100);
    for (const r of failed) {
      expect(r.key.endsWith("7")).toBe(true);
      expect(!r.ok && r.error.code).toBe(Code.UNAVAILABLE);
    }
    for (const r of results) {
      if (r.ok) {
        expect(r.result.key).toBe(r.key);
      }
    }
  });

  it("selects by prefix or by a list of keys; an unknown key is an UNAVAILABLE result", async () => {
    const { handler } = await fleet(30);
    const byPrefix = await collect(forEachAgent(handler, { prefix: "device-001" }, getKey));
    expect(byPrefix.map((r) => r.key).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `device-001${i}`));
    const listed = await collect(forEachAgent(handler, { keys: ["device-0003", "toaster-1"] }, getKey));
    expect(listed.find((r) => r.key === "device-0003")).toMatchObject({ ok: true });
    expect(listed.find((r) => r.key === "toaster-1")).toMatchObject({ ok: false, error: { code: Code.UNAVAILABLE } });
  });

  it("reads keys only as slots free up: a slow consumer holds at most `concurrency` results", async () => {
    const { handler } = await fleet(20);
    let pulled = 0;
    async function* keys() {
      for (let i = 0; i < 20; i++) {
        pulled++;
        yield `device-${String(i).padStart(4, "0")}`;
      }
    }
    let consumed = 0;
    for await (const _ of forEachAgent(handler, { keys: keys() }, getKey, { concurrency: 3 })) {
      consumed++;
      // Finished results hold their slot until consumed: never more than 3 ahead.
      expect(pulled - consumed).toBeLessThanOrEqual(3);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(consumed).toBe(20);
  });

  it("reports an agent still busy after timeoutMs as DEADLINE_EXCEEDED, and its calls end too", async () => {
    const handler = new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("device-id")[0] ?? "") });
    let cancelledOnAgent = 0;
    const agent = await startTestAgent(handler, {
      metadata: { "device-id": "stuck" },
      register: (server) =>
        server.registerService(StoreService, {
          async get(_request: Item, context) {
            await new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
            cancelledOnAgent++;
            return {};
          },
        }),
    });
    cleanup.add(() => agent.stop());
    const [result] = await collect(forEachAgent(handler, { keys: ["stuck"] }, getKey, { timeoutMs: 100 }));
    expect(result).toMatchObject({ key: "stuck", ok: false, error: { code: Code.DEADLINE_EXCEEDED } });
    // The call carried the deadline: the agent's handler was ended as well.
    await eventually(
      "the agent's handler sees its call end",
      async () => cancelledOnAgent,
      (n) => n === 1,
      5_000,
    );
  });

  it("stops on the signal (the iteration throws CANCELLED) and when the consumer leaves early", async () => {
    const { handler, load } = await fleet(40);
    const stop = new AbortController();
    let seen = 0;
    await expect(
      (async () => {
        for await (const _ of forEachAgent(handler, { all: true }, getKey, { concurrency: 4, signal: stop.signal })) {
          if (++seen === 5) {
            stop.abort();
          }
        }
      })(),
    ).rejects.toMatchObject({ code: Code.CANCELLED });
    expect(seen).toBe(5);
    const before = load.calls;
    for await (const _ of forEachAgent(handler, { all: true }, getKey, { concurrency: 4 })) {
      break;
    }
    // Leaving took no further keys: at most the 4 slots' worth were called.
    expect(load.calls - before).toBeLessThanOrEqual(5);
  });

  it("fails the iteration when the key source fails, and validates its options", async () => {
    const { handler } = await fleet(1);
    async function* broken(): AsyncGenerator<string> {
      yield "device-0000";
      throw new TunnelError(Code.UNAVAILABLE, "directory unreachable");
    }
    await expect(collect(forEachAgent(handler, { keys: broken() }, getKey))).rejects.toMatchObject({ rawMessage: "directory unreachable" });
    await expect(collect(forEachAgent(handler, { all: true }, getKey, { concurrency: 0 }))).rejects.toThrow(RangeError);
    await expect(collect(forEachAgent(handler, { all: true }, getKey, { timeoutMs: -1 }))).rejects.toThrow(RangeError);
  });
});

describe("pagedKeys", () => {
  it("asks for the next page only once the previous one was consumed", async () => {
    const pages = [["a", "b"], ["c", "d"], ["e"]];
    const asked: (string | undefined)[] = [];
    const keys = pagedKeys(
      async (request) => {
        asked.push(request.cursor);
        const index = request.cursor === undefined ? 0 : Number(request.cursor);
        expect(request).toMatchObject({ prefix: "x", limit: 2 });
        return { keys: pages[index] ?? [], cursor: index + 1 < pages.length ? String(index + 1) : undefined };
      },
      { prefix: "x" },
      2,
    );
    const seen: string[] = [];
    for await (const key of keys) {
      seen.push(key);
      // Pages are asked for one at a time, as the keys are consumed.
      expect(asked.length).toBe(Math.ceil(seen.length / 2));
    }
    expect(seen).toEqual(["a", "b", "c", "d", "e"]);
    expect(asked).toEqual([undefined, "1", "2"]);
  });
});
