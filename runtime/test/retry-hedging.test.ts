// Hedging of calls across a key's tunnels, as TunnelClientOptions ask for
// it: further attempts on tunnels carrying none of the call, the first
// answer wins, failures within maxAttempts and nonFatalCodes.
import { afterEach, describe, expect, it } from "vitest";
import { Code, createTunnelClient, TunnelError, type HandlerContext, type TunnelServiceHandler } from "../src/index.js";
import { eventually } from "./support/conditions.js";
import { Cleanup } from "./support/servers.js";
import { flaky, newHandler, type Store, storeAgent } from "./support/store-agents.js";
import { StoreService } from "./support/store-service.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const agent = (handler: TunnelServiceHandler<string>, key: string, impl: Store) => storeAgent(cleanup, handler, key, impl);

describe("hedging across a key's tunnels", () => {
  /** Two agents with one key: "slow" never answers (until cancelled), "fast" answers at once. */
  async function slowAndFast(handler: TunnelServiceHandler<string>) {
    const slow = { calls: 0, cancelled: 0 };
    const fast = { calls: 0 };
    const hang = async (context: HandlerContext) => {
      slow.calls++;
      await new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
      slow.cancelled++;
      throw new TunnelError(Code.CANCELLED, "hedge lost");
    };
    await agent(handler, "pair", { get: (_r, context) => hang(context), create: (_r, context) => hang(context) });
    await agent(handler, "pair", {
      get: () => {
        fast.calls++;
        return { value: "fast" };
      },
      create: () => {
        fast.calls++;
        return { value: "fast" };
      },
    });
    return { slow, fast };
  }

  it("starts the next attempt on another tunnel after the delay and keeps the first answer", async () => {
    const handler = newHandler();
    const { slow, fast } = await slowAndFast(handler);
    expect(handler.keyAsChannel("pair").ready()).toBe(true);
    const store = createTunnelClient(StoreService, handler.keyAsChannel("pair"), { hedging: { delayMs: 20 } });
    // Round-robin: of two calls, one starts on the slow tunnel.
    for (let i = 0; i < 2; i++) {
      expect((await store.get({})).value).toBe("fast");
    }
    expect(fast.calls).toBe(2);
    expect(slow.calls).toBe(1);
    // The losing attempt was cancelled on the slow agent.
    await eventually(
      "the slow attempt is cancelled",
      async () => slow.cancelled,
      (n) => n === 1,
      5_000,
    );
  });

  it("never hedges a method the proto does not mark", async () => {
    const handler = newHandler();
    const { slow, fast } = await slowAndFast(handler);
    const store = createTunnelClient(StoreService, handler.keyAsChannel("pair"), { hedging: { delayMs: 5 } });
    const outcomes = await Promise.allSettled([store.create({}, { timeoutMs: 300 }), store.create({}, { timeoutMs: 300 })]);
    // One call each way: the one on the slow tunnel times out, nothing was sent twice.
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect(slow.calls + fast.calls).toBe(2);
  });

  it("an attempt failing with a fatal code ends the call at once, cancelling the attempt still running", async () => {
    const handler = newHandler();
    const slow = { calls: 0, cancelled: 0 };
    await agent(handler, "pair", {
      get: async (_r, context) => {
        slow.calls++;
        await new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
        slow.cancelled++;
        return {};
      },
    });
    const broken = flaky(100, Code.INTERNAL);
    await agent(handler, "pair", { get: broken });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("pair"), { hedging: { delayMs: 20, maxAttempts: 3 } });
    // Round-robin: one call starts on each tunnel; the hedge of the first goes to the other.
    for (let i = 0; i < 2; i++) {
      await expect(store.get({}, { timeoutMs: 4_000 })).rejects.toMatchObject({ code: Code.INTERNAL });
    }
    expect(broken.calls).toBe(2);
    await eventually(
      "the slow attempts are cancelled",
      async () => [slow.calls, slow.cancelled],
      ([c, n]) => c === n,
      5_000,
    );
  });

  it("failing attempts stop at maxAttempts, and the last one's error is the call's at once, not after the hedging delay", async () => {
    const handler = newHandler();
    const get = flaky(100);
    await agent(handler, "solo", { get });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("solo"), { hedging: { delayMs: 5_000, maxAttempts: 3 } });
    // Waiting for the (5 s) hedging delay would end the call with DEADLINE_EXCEEDED at 4 s.
    await expect(store.get({}, { timeoutMs: 4_000 })).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "failure 3" });
    expect(get.calls).toBe(3);
  });

  it("starts no second attempt on the same tunnel when the key has only one", async () => {
    const handler = newHandler();
    let calls = 0;
    await agent(handler, "solo", {
      get: async (_r, context) => {
        calls++;
        await new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
        return {};
      },
    });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("solo"), { hedging: { delayMs: 5, maxAttempts: 3 } });
    await expect(store.get({}, { timeoutMs: 200 })).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(calls).toBe(1);
  });
});
