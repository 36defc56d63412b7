// Retries of failed calls, as TunnelClientOptions ask for them: only for
// methods whose proto says they may be repeated, within maxAttempts, the
// retry budget, the server's pushback and the deadline (hedging:
// retry-hedging.test.ts). Agents run in process.
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { afterEach, describe, expect, it } from "vitest";
import {
  Code,
  TunnelError,
  type TunnelServiceHandler,
  createTunnelClient,
  withInterceptors,
  type Interceptor,
  type HandlerContext,
} from "../src/index.js";
import { deferred } from "../src/deferred.js";
import { eventually } from "./support/conditions.js";
import { Cleanup } from "./support/servers.js";
import { FAST_RETRY, flaky, newHandler, type Store, storeAgent } from "./support/store-agents.js";
import { levelOf, StoreService, type Item } from "./support/store-service.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Retries that wait (almost always) longer than any test: for what happens meanwhile. */
const MINUTE_BACKOFF = { maxAttempts: 5, initialBackoffMs: 60_000, maxBackoffMs: 60_000, backoffMultiplier: 1 };

const agent = (handler: TunnelServiceHandler<string>, key: string, impl: Store) => storeAgent(cleanup, handler, key, impl);

describe("retries from the proto's idempotency_level", () => {
  it("reads the levels from the descriptor", () => {
    expect(levelOf(StoreService.method.get)).toBe(MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS);
    expect(levelOf(StoreService.method.put)).toBe(MethodOptions_IdempotencyLevel.IDEMPOTENT);
    expect(levelOf(StoreService.method.create)).toBe(MethodOptions_IdempotencyLevel.IDEMPOTENCY_UNKNOWN);
  });

  it("retries NO_SIDE_EFFECTS and IDEMPOTENT methods, never the others", async () => {
    const handler = newHandler();
    const get = flaky(2);
    const put = flaky(2);
    const create = flaky(2);
    await agent(handler, "d1", { get, put, create });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: FAST_RETRY });

    expect((await store.get({ key: "a" })).value).toBe("answer after 3");
    expect(get.calls).toBe(3);
    expect((await store.put({ key: "a" })).value).toBe("answer after 3");
    expect(put.calls).toBe(3);
    await expect(store.create({ key: "a" })).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "failure 1" });
    expect(create.calls).toBe(1);
  });

  it("keeps a channel's own interceptors, which see one call however many attempts it takes", async () => {
    const handler = newHandler();
    const get = flaky(2);
    await agent(handler, "d1", { get });
    let intercepted = 0;
    const counting: Interceptor = (next) => (request) => {
      intercepted++;
      return next(request);
    };
    const store = createTunnelClient(StoreService, withInterceptors(handler.keyAsChannel("d1"), counting), { retry: FAST_RETRY });
    expect((await store.get({})).value).toBe("answer after 3");
    expect(get.calls).toBe(3);
    expect(intercepted).toBe(1);
  });

  it("is off unless the client asks for it", async () => {
    const handler = newHandler();
    const get = flaky(1);
    await agent(handler, "d1", { get });
    await expect(createTunnelClient(StoreService, handler.keyAsChannel("d1")).get({})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    expect(get.calls).toBe(1);
  });

  it("stops after maxAttempts with the last attempt's error, and retries only the retryable codes", async () => {
    const handler = newHandler();
    const get = flaky(100);
    const put = flaky(100, Code.INTERNAL);
    await agent(handler, "d1", { get, put });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: FAST_RETRY });
    await expect(store.get({})).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "failure 3" });
    expect(get.calls).toBe(3);
    await expect(store.put({})).rejects.toMatchObject({ code: Code.INTERNAL });
    expect(put.calls).toBe(1);
  });

  it("never retries once a response arrived (the call is committed)", async () => {
    const handler = newHandler();
    let calls = 0;
    await agent(handler, "d1", {
      async *watch(request) {
        calls++;
        yield { key: request.key, value: "first" };
        throw new TunnelError(Code.UNAVAILABLE, "gone after one");
      },
    });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: FAST_RETRY });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const item of store.watch({ key: "k" })) {
          seen.push(item.value);
        }
      })(),
    ).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "gone after one" });
    expect(seen).toEqual(["first"]);
    expect(calls).toBe(1);
  });

  it("a consumer leaving a stream early cancels the attempt on the agent", async () => {
    const handler = newHandler();
    const aborted = deferred<void>();
    await agent(handler, "d1", {
      async *watch(request, context) {
        yield { key: request.key, value: "first" };
        await new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
        aborted.resolve();
      },
    });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: FAST_RETRY });
    for await (const item of store.watch({ key: "k" })) {
      expect(item.value).toBe("first");
      break;
    }
    await aborted.promise; // the handler saw its call cancelled
  });

  it("replays a stream's requests to the next attempt", async () => {
    const handler = newHandler();
    let calls = 0;
    await agent(handler, "d1", {
      async *sync(requests) {
        calls++;
        const keys: string[] = [];
        for await (const item of requests) {
          keys.push(item.key);
        }
        if (calls === 1) {
          throw new TunnelError(Code.UNAVAILABLE, "lost the first attempt");
        }
        yield { key: keys.join(","), value: `attempt ${calls}` };
      },
    });
    const channel = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: FAST_RETRY });
    const answers: Item[] = [];
    for await (const item of channel.sync(items("a", "b", "c"))) {
      answers.push(item);
    }
    expect(answers.map((a) => [a.key, a.value])).toEqual([["a,b,c", "attempt 2"]]);
  });

  it("honours the server's pushback: a negative one forbids the retry, a number sets the wait", async () => {
    const handler = newHandler();
    const pushback = { value: "-1" };
    let calls = 0;
    let failures = 1;
    await agent(handler, "d1", {
      get(_request: Item, context: HandlerContext) {
        calls++;
        if (failures-- > 0) {
          context.responseTrailers.set("grpc-retry-pushback-ms", pushback.value);
          throw new TunnelError(Code.UNAVAILABLE, "busy");
        }
        return { value: "ok" };
      },
    });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: FAST_RETRY });
    await expect(store.get({})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    expect(calls).toBe(1);
    pushback.value = "0";
    failures = 1;
    expect((await store.get({})).value).toBe("ok");
    expect(calls).toBe(3);
  });

  it("spends a per-client retry budget: failures stop retries, successes earn them back", async () => {
    const handler = newHandler();
    const outcome = { fail: true };
    let calls = 0;
    await agent(handler, "d1", {
      get() {
        calls++;
        if (outcome.fail) {
          throw new TunnelError(Code.UNAVAILABLE, "down");
        }
        return { value: "up" };
      },
    });
    const budget = { maxTokens: 4, tokenRatio: 0.5 };
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: { ...FAST_RETRY, budget } });
    const attempts = async () => {
      const before = calls;
      await store.get({}).catch(() => {});
      return calls - before;
    };
    // 4 tokens; retries only while more than 2 are left.
    expect(await attempts()).toBe(2); // 4 → 3 (retry) → 2 (no retry)
    expect(await attempts()).toBe(1); // 2 → 1
    // Another client has its own budget.
    const other = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: { ...FAST_RETRY, budget } });
    const before = calls;
    await other.get({}).catch(() => {});
    expect(calls - before).toBe(2);
    // Successes earn tokens back: 1 + 5 × 0.5 = 3.5; a failure leaves 2.5 > 2, so it is retried.
    outcome.fail = false;
    for (let i = 0; i < 5; i++) {
      await store.get({});
    }
    outcome.fail = true;
    expect(await attempts()).toBe(2);
  });

  it("reports the answering attempt's headers once, never those of an attempt that failed", async () => {
    const handler = newHandler();
    let calls = 0;
    await agent(handler, "d1", {
      get(_request: Item, context: HandlerContext) {
        calls++;
        context.responseHeaders.set("x-attempt", String(calls));
        if (calls === 1) {
          context.sendHeaders(); // seen by the client, then the attempt fails
          throw new TunnelError(Code.UNAVAILABLE, "first fails");
        }
        return { value: "ok" };
      },
    });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: FAST_RETRY });
    const headers: string[][] = [];
    const res = await store.get({}, { onHeader: (h) => headers.push(h.get("x-attempt").map(String)) });
    expect(res.value).toBe("ok");
    expect(headers).toEqual([["2"]]);
  });

  it("a call cancelled while it waits to retry ends at once, CANCELLED with the caller's reason, and is not retried", async () => {
    const handler = newHandler();
    const get = flaky(100);
    await agent(handler, "d1", { get });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: MINUTE_BACKOFF });
    const [tunnel] = handler.allReverseTunnels();
    const controller = new AbortController();
    const call = store.get({}, { signal: controller.signal }).catch((e: unknown) => e);
    // The first attempt failed and has ended here: the call now waits (up to 60 s) for its retry.
    await eventually(
      "first attempt over",
      async () => [get.calls, tunnel.activeCalls],
      ([calls, active]) => calls === 1 && active === 0,
      5_000,
    );
    controller.abort(new TunnelError(Code.CANCELLED, "caller left"));
    expect(await call).toMatchObject({ code: Code.CANCELLED, rawMessage: "caller left" });
    expect(get.calls).toBe(1);
  });

  it("only failures with a retryable code spend the budget", async () => {
    const handler = newHandler();
    const put = flaky(100, Code.INTERNAL);
    const get = flaky(1);
    await agent(handler, "d1", { get, put });
    const budget = { maxTokens: 4, tokenRatio: 0.5 };
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: { ...FAST_RETRY, budget } });
    for (let i = 0; i < 3; i++) {
      await expect(store.put({})).rejects.toMatchObject({ code: Code.INTERNAL });
    }
    // Still 4 tokens: a retryable failure takes one (3 > 2 left) and is retried.
    expect((await store.get({})).value).toBe("answer after 2");
  });

  it("gives up when the backoff would pass the deadline", async () => {
    const handler = newHandler();
    const get = flaky(100);
    await agent(handler, "d1", { get });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: MINUTE_BACKOFF });
    // A random wait below 60 s almost never fits in 50 ms; when it does, the retry fails the same way.
    await expect(store.get({}, { timeoutMs: 50 })).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    expect(get.calls).toBeLessThanOrEqual(2);
  });

  it("rejects a client with both retry and hedging, or limits out of range", () => {
    const channel = newHandler().keyAsChannel("x");
    expect(() => createTunnelClient(StoreService, channel, { retry: true, hedging: {} })).toThrow(RangeError);
    expect(() => createTunnelClient(StoreService, channel, { retry: { maxAttempts: 1 } })).toThrow(/maxAttempts/);
    expect(() => createTunnelClient(StoreService, channel, { retry: { maxAttempts: 11 } })).toThrow(/maxAttempts/);
    expect(() => createTunnelClient(StoreService, channel, { retry: { budget: { maxTokens: 0 } } })).toThrow(/maxTokens/);
  });
});

async function* items(...keys: string[]): AsyncGenerator<{ key: string }> {
  for (const key of keys) {
    yield { key };
  }
}
