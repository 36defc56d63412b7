// A call under a retry policy, as its raw stream shows it (what typed
// clients are built on): headers of the answering attempt before its
// first response, requests after the answer going to that attempt, the
// call's end refusing later requests, and requests that outgrow the
// replay buffer ending the retries. Agents run in process.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterEach, describe, expect, it } from "vitest";
import type { CallStream } from "../src/api/client/index.js";
import { PolicyChannel, resolvePolicy } from "../src/api/retry/index.js";
import { Code, createTunnelClient, type HandlerContext, TunnelError, type TunnelServiceHandler } from "../src/index.js";
import { deferred } from "../src/deferred.js";
import { methodPath } from "../src/protocol.js";
import { eventually } from "./support/conditions.js";
import { Cleanup } from "./support/servers.js";
import { FAST_RETRY, newHandler, type Store, storeAgent } from "./support/store-agents.js";
import { type Item, ItemSchema, StoreService } from "./support/store-service.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Retries that wait longer than any test: for what happens meanwhile. */
const MINUTE_BACKOFF = { maxAttempts: 5, initialBackoffMs: 60_000, maxBackoffMs: 60_000, backoffMultiplier: 1 };
/** More than a call may keep for a replay (64 KiB). */
const OVERSIZED = 70_000;

const SYNC = methodPath(StoreService.method.sync);
const GET = methodPath(StoreService.method.get);

const item = (key: string, value = "") => toBinary(ItemSchema, create(ItemSchema, { key, value }));
const keyOf = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : fromBinary(ItemSchema, bytes).key);

async function agent(impl: Store): Promise<TunnelServiceHandler<string>> {
  const handler = newHandler();
  await storeAgent(cleanup, handler, "d1", impl);
  return handler;
}

/** A raw call of `method` under `retry` on the agent's tunnel. */
function policyCall(handler: TunnelServiceHandler<string>, method: string, retry = FAST_RETRY): CallStream {
  const policy = resolvePolicy(retry, undefined);
  if (policy === undefined) {
    throw new Error("no policy");
  }
  return new PolicyChannel(handler.keyAsChannel("d1"), policy).startCall(method);
}

/** Waits until the agent's tunnel carries no call: the attempt that failed has ended there. */
async function attemptOver(handler: TunnelServiceHandler<string>, calls: () => number, expected: number): Promise<void> {
  const [tunnel] = handler.allReverseTunnels();
  await eventually(
    "the attempt is over",
    async () => [calls(), tunnel.activeCalls],
    ([n, active]) => n === expected && active === 0,
    5_000,
  );
}

/** An agent whose get() runs until its call is cancelled; counts its calls. */
async function hangingAgent(): Promise<{ handler: TunnelServiceHandler<string>; calls: () => number }> {
  let calls = 0;
  const handler = await agent({
    async get(_request: Item, context: HandlerContext) {
      calls++;
      await new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
      return { key: "too late" };
    },
  });
  return { handler, calls: () => calls };
}

/** A unary call whose one attempt failed (UNAVAILABLE) and which now waits a minute to retry. */
async function waitingToRetry(): Promise<{ call: CallStream; calls: () => number }> {
  let calls = 0;
  const handler = await agent({
    get() {
      calls++;
      throw new TunnelError(Code.UNAVAILABLE, "down");
    },
  });
  const call = policyCall(handler, GET, MINUTE_BACKOFF);
  await call.send(item("k"));
  call.closeSend();
  await attemptOver(handler, () => calls, 1);
  return { call, calls: () => calls };
}

describe("a call under a retry policy", () => {
  it("reports the answering attempt's headers before its first response, while the call goes on", async () => {
    let calls = 0;
    const firstSeen = deferred<void>();
    const handler = await agent({
      async *watch(_request: Item, context: HandlerContext) {
        calls++;
        context.responseHeaders.set("x-attempt", String(calls));
        if (calls === 1) {
          throw new TunnelError(Code.UNAVAILABLE, "first fails");
        }
        yield { key: "a" };
        await firstSeen.promise; // the call is still open when the client reads "a"
        yield { key: "b" };
      },
    });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: FAST_RETRY });
    const seen: string[] = [];
    for await (const answer of store.watch({}, { onHeader: (h) => seen.push(`headers ${h.get("x-attempt")}`) })) {
      seen.push(answer.key);
      firstSeen.resolve();
    }
    expect(seen).toEqual(["headers 2", "a", "b"]);
  });

  it("sends the requests that follow the answer to the answering attempt", async () => {
    const handler = await agent({
      async *sync(requests) {
        for await (const request of requests) {
          yield { key: `echo ${request.key}` };
        }
      },
    });
    const call = policyCall(handler, SYNC);
    await call.send(item("1"));
    expect(keyOf(await call.read())).toBe("echo 1"); // the call is committed to this attempt
    await call.send(item("2"));
    expect(keyOf(await call.read())).toBe("echo 2");
    call.closeSend();
    expect(await call.read()).toBeUndefined();
    expect((await call.done).error).toBeUndefined();
  });

  it("a call cancelled while it waits to retry refuses later requests and reads with the cancel's reason", async () => {
    const { call, calls } = await waitingToRetry();
    const reason = new TunnelError(Code.CANCELLED, "caller left");
    call.cancel(reason);
    expect((await call.done).error).toBe(reason);
    expect(call.closed).toBe(true);
    await expect(call.send(item("late"))).rejects.toBe(reason);
    await expect(call.read()).rejects.toBe(reason);
    expect(calls()).toBe(1);
  });

  it("requests that outgrow the replay buffer while the call waits to retry end it at once", async () => {
    let calls = 0;
    const handler = await agent({
      // biome-ignore lint/correctness/useYield: fails before any answer
      async *sync() {
        calls++;
        throw new TunnelError(Code.UNAVAILABLE, "down");
      },
    });
    const call = policyCall(handler, SYNC, MINUTE_BACKOFF);
    await attemptOver(handler, () => calls, 1);
    expect(call.closed).toBe(false); // waiting (a minute) to retry
    await call.send(item("big", "x".repeat(OVERSIZED)));
    const end = await call.done;
    expect(end.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "call failed and its requests outgrew the replay buffer" });
    expect(calls).toBe(1);
  });

  it("requests that outgrow the replay buffer make the running attempt the last: its failure is the call's", async () => {
    let calls = 0;
    const handler = await agent({
      async *sync(requests) {
        calls++;
        let received = 0;
        for await (const _ of requests) {
          received++;
        }
        if (calls === 1) {
          throw new TunnelError(Code.UNAVAILABLE, `lost after ${received}`);
        }
        yield { key: `got ${received}` };
      },
    });
    const call = policyCall(handler, SYNC);
    await call.send(item("small"));
    await call.send(item("big", "x".repeat(OVERSIZED)));
    call.closeSend();
    await expect(call.read()).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "lost after 2" });
    expect(calls).toBe(1);
  });

  it("a cancel whose reason has a retryable code ends the call with it: a cancelled call is never retried", async () => {
    const { handler, calls } = await hangingAgent();
    const call = policyCall(handler, GET);
    await call.send(item("k"));
    call.closeSend();
    await eventually(
      "the attempt runs",
      async () => calls(),
      (n) => n === 1,
      5_000,
    );
    const reason = new TunnelError(Code.UNAVAILABLE, "client shutting down");
    call.cancel(reason);
    expect((await call.done).error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "client shutting down" });
    expect(calls()).toBe(1);
  });

  it("a cancel without a reason while the call waits to retry ends it CANCELLED 'call cancelled'", async () => {
    const { call } = await waitingToRetry();
    call.cancel();
    expect((await call.done).error).toMatchObject({ code: Code.CANCELLED, rawMessage: "call cancelled" });
  });

  it("a call that ended successfully before it was read reads its end: no response, no error", async () => {
    const handler = await agent({
      async *watch() {},
    });
    const call = policyCall(handler, methodPath(StoreService.method.watch));
    await call.send(item("k"));
    call.closeSend();
    expect((await call.done).error).toBeUndefined();
    expect(await call.read()).toBeUndefined();
  });

  it("the caller's signal ending an attempt with a retryable code ends the call: it is not retried", async () => {
    const { handler, calls } = await hangingAgent();
    const store = createTunnelClient(StoreService, handler.keyAsChannel("d1"), { retry: FAST_RETRY });
    const controller = new AbortController();
    const result = store.get({}, { signal: controller.signal }).catch((e: unknown) => e);
    await eventually(
      "the attempt runs",
      async () => calls(),
      (n) => n === 1,
      5_000,
    );
    controller.abort(new TunnelError(Code.UNAVAILABLE, "client shutting down"));
    expect(await result).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "client shutting down" });
    expect(calls()).toBe(1);
  });
});

describe("a hedged call", () => {
  it("ends with the answering attempt's end and trailers, not those of the attempt it cancelled", async () => {
    const handler = newHandler();
    const slow = { calls: 0 };
    await storeAgent(cleanup, handler, "pair", {
      async get(_request: Item, context: HandlerContext) {
        slow.calls++;
        await new Promise<void>((resolve) => context.signal.addEventListener("abort", () => resolve(), { once: true }));
        throw new TunnelError(Code.CANCELLED, "hedge lost");
      },
    });
    await storeAgent(cleanup, handler, "pair", {
      get(_request: Item, context: HandlerContext) {
        context.responseTrailers.set("x-served-by", "fast");
        return { key: "fast" };
      },
    });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("pair"), { hedging: { delayMs: 20 } });
    // Round-robin: of two calls, one starts on the slow tunnel and is answered by its hedge.
    for (let i = 0; i < 2; i++) {
      const trailers: string[][] = [];
      const answer = await store.get({}, { onTrailer: (t) => trailers.push(t.get("x-served-by").map(String)) });
      expect(answer.key).toBe("fast");
      expect(trailers).toEqual([["fast"]]);
    }
    expect(slow.calls).toBe(1);
  });

  it("a hedge failing with a non-fatal code leaves the attempt still running to answer", async () => {
    const handler = newHandler();
    const brokenCalled = deferred<void>();
    let broken = 0;
    await storeAgent(cleanup, handler, "pair", {
      async get() {
        await brokenCalled.promise; // answers once the other tunnel has failed an attempt
        return { key: "slow" };
      },
    });
    await storeAgent(cleanup, handler, "pair", {
      get() {
        broken++;
        brokenCalled.resolve();
        throw new TunnelError(Code.UNAVAILABLE, "broken");
      },
    });
    const store = createTunnelClient(StoreService, handler.keyAsChannel("pair"), { hedging: { delayMs: 20, maxAttempts: 2 } });
    // Round-robin: one call starts on each tunnel; either way the slow attempt answers.
    for (let i = 0; i < 2; i++) {
      expect((await store.get({}, { timeoutMs: 4_000 })).key).toBe("slow");
    }
    expect(broken).toBe(2);
  });
});
