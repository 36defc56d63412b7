// The transparent retry under round-robin and cluster channels
// (startRetryingCall), on real in-process tunnels: a refused call moves to
// the target `another` names, its requests and half-close are replayed in
// order ahead of later ones, the replay buffer goes back once no further
// retry can come, and targets that refuse at once are skipped — with a
// backoff from the second retry on, never a spin.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { MessageSchema, TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import type { CallChannel, CallStream } from "../src/api/client/index.js";
import { ReplayBudget, startRetryingCall } from "../src/api/retry/index.js";
import { deferred } from "../src/deferred.js";
import { Code, openTunnel, type TunnelChannel, TunnelError, TunnelServiceHandler } from "../src/index.js";
import { methodPath } from "../src/protocol.js";
import { inProcessClient } from "../src/testing.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const BIDI = methodPath(TestService.method.bidiStream);
const UNARY = methodPath(TestService.method.unary);

/**
 * A forward tunnel to an in-process TestService. `refusing`: its handler is
 * shutting down, so the next call started on it is refused (CallEnd.refused)
 * and the tunnel then refuses further calls at once.
 */
async function target(options: { refusing?: boolean } = {}): Promise<TunnelChannel> {
  const handler = new TunnelServiceHandler();
  handler.registerService(TestService, testServiceImpl);
  const client = inProcessClient(handler);
  cleanup.add(() => client.close());
  const tunnel = await openTunnel(client);
  cleanup.add(() => tunnel.close());
  if (options.refusing) {
    handler.initiateShutdown();
  }
  return tunnel;
}

/** A tunnel that refuses every call at once (UNAVAILABLE, thrown by startCall): it has closed. */
async function closedTarget(): Promise<TunnelChannel> {
  const tunnel = await target();
  tunnel.close();
  expect(() => tunnel.startCall(UNARY)).toThrow(expect.objectContaining({ code: Code.UNAVAILABLE }));
  return tunnel;
}

const message = (byte: number) => toBinary(MessageSchema, create(MessageSchema, { payload: new Uint8Array([byte]) }));

/** The payload bytes of every response until the end, and the call's end. */
async function readAll(call: CallStream): Promise<{ payloads: number[]; code: Code | undefined }> {
  const payloads: number[] = [];
  try {
    for (;;) {
      const bytes = await call.read();
      if (bytes === undefined) {
        break;
      }
      payloads.push(...fromBinary(MessageSchema, bytes).payload);
    }
  } catch {
    // the end says why
  }
  return { payloads, code: (await call.done).error?.code };
}

/** Records which targets the call's attempts started on, in order. */
function carriers(names: Map<CallChannel, string>) {
  const seen: string[] = [];
  return { seen, onTunnel: (tunnel: CallChannel) => seen.push(names.get(tunnel) ?? "?") };
}

const roomy = () => new ReplayBudget({ perCallBytes: 1_000, totalBytes: 1_000 });

/**
 * A call first refused by `refusing`, whose next target comes when the test
 * says: `asked` resolves once the refusal was decided and the call waits
 * for it, `next` gives it.
 */
function refusedThenWaiting(refusing: CallChannel, options: { budget?: ReplayBudget; onTunnel?: (tunnel: CallChannel) => void } = {}) {
  const next = deferred<CallChannel | undefined>();
  const asked = deferred<void>();
  const call = startRetryingCall({
    method: BIDI,
    options: { onTunnel: options.onTunnel },
    first: refusing,
    another: () => {
      asked.resolve();
      return next.promise;
    },
    budget: options.budget ?? roomy(),
  });
  return { call, asked: asked.promise, next };
}

describe("startRetryingCall", () => {
  it("requests sent while a retry replays, and the half-close, go after the replayed ones", async () => {
    const [refusing, serving] = await Promise.all([target({ refusing: true }), target()]);
    const names = new Map<CallChannel, string>([
      [refusing, "refusing"],
      [serving, "serving"],
    ]);
    const route = carriers(names);
    const sends: Promise<void>[] = [];
    let call: CallStream | undefined;
    call = startRetryingCall({
      method: BIDI,
      options: {
        onTunnel: (tunnel) => {
          route.onTunnel(tunnel);
          if (tunnel === serving) {
            // Right after the retry began, while its replay is under way.
            queueMicrotask(() => {
              sends.push(call!.send(message(5)));
              call!.closeSend();
            });
          }
        },
      },
      first: refusing,
      another: () => serving,
      budget: roomy(),
    });
    for (let i = 0; i < 5; i++) {
      sends.push(call.send(message(i)));
    }
    const { payloads, code } = await readAll(call);
    expect(route.seen).toEqual(["refusing", "serving"]);
    expect(payloads).toEqual([0, 1, 2, 3, 4, 5]);
    expect(code).toBeUndefined();
    await Promise.all(sends);
  });

  it("a request sent after the refusal, while the next target is still coming, reaches that target", async () => {
    const [refusing, serving] = await Promise.all([target({ refusing: true }), target()]);
    const { call, asked, next } = refusedThenWaiting(refusing);
    const first = call.send(message(1));
    await asked; // the first attempt was refused and has ended
    const late = call.send(message(2));
    call.closeSend();
    next.resolve(serving);
    await Promise.all([first, late]);
    expect(await readAll(call)).toEqual({ payloads: [1, 2], code: undefined });
  });

  it("when no next target comes, a request sent meanwhile fails with the refusal, as the call does", async () => {
    const refusing = await target({ refusing: true });
    const { call, asked, next } = refusedThenWaiting(refusing);
    void call.send(message(1)).catch(() => {});
    await asked;
    const late = call.send(message(2));
    next.resolve(undefined);
    await expect(late).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "server is shutting down" });
    const end = await call.done;
    expect(end.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "server is shutting down" });
    // A call that has ended refuses further requests with its end.
    await expect(call.send(message(3))).rejects.toBe(end.error);
  });

  it("requests that outgrow the replay buffer while the next target is coming end the call with the refusal", async () => {
    const [refusing, serving] = await Promise.all([target({ refusing: true }), target()]);
    const names = new Map<CallChannel, string>([
      [refusing, "refusing"],
      [serving, "serving"],
    ]);
    const route = carriers(names);
    const budget = new ReplayBudget({ perCallBytes: 16, totalBytes: 1_000 });
    const { call, asked, next } = refusedThenWaiting(refusing, { budget, onTunnel: route.onTunnel });
    void call.send(message(1)).catch(() => {});
    await asked;
    const big = toBinary(MessageSchema, create(MessageSchema, { payload: new Uint8Array(32) }));
    const late = call.send(big); // cannot be replayed: the retry would miss it
    next.resolve(serving);
    await expect(late).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "server is shutting down" });
    expect((await call.done).error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "server is shutting down" });
    expect(route.seen).toEqual(["refusing"]);
    expect(budget.take(1_000)).toBe(true);
  });

  it("a request sent after the call ended is refused with the end, and nothing of it stays in the replay budget", async () => {
    const serving = await target();
    const budget = new ReplayBudget({ perCallBytes: 100, totalBytes: 100 });
    // The deadline ends the call before any answer: nothing committed it.
    const call = startRetryingCall({ method: BIDI, options: { timeoutMs: 100 }, first: serving, another: () => undefined, budget });
    await call.send(toBinary(MessageSchema, create(MessageSchema, { delayMillis: 60_000 })));
    const end = await call.done;
    expect(end.error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    await expect(call.send(message(1))).rejects.toBe(end.error);
    expect(budget.take(100)).toBe(true);
  });

  it("gives the replay buffer back once the last retry has replayed, before the call ends", async () => {
    const [refusing, serving] = await Promise.all([target({ refusing: true }), target()]);
    const budget = new ReplayBudget({ perCallBytes: 100, totalBytes: 100 });
    const call = startRetryingCall({ method: BIDI, options: {}, first: refusing, another: () => serving, budget });
    await call.send(message(1));
    expect(budget.take(100)).toBe(false); // the request is kept for a replay
    const echoed = await call.read(); // from the retry, which replayed it
    expect(fromBinary(MessageSchema, echoed!).payload).toEqual(new Uint8Array([1]));
    // The call goes on, but no further retry may come: what it kept is free for other calls.
    expect(call.closed).toBe(false);
    expect(budget.take(100)).toBe(true);
    budget.give(100);
    call.closeSend();
    expect(await readAll(call)).toEqual({ payloads: [], code: undefined });
  });

  it("keeps the requests through every retry allowed: the third target gets them after two refusals", async () => {
    const [first, second, serving] = await Promise.all([target({ refusing: true }), target({ refusing: true }), target()]);
    const names = new Map<CallChannel, string>([
      [first, "first"],
      [second, "second"],
      [serving, "serving"],
    ]);
    const route = carriers(names);
    const next = [second, serving];
    const call = startRetryingCall({
      method: BIDI,
      options: { onTunnel: route.onTunnel },
      first,
      another: () => next.shift(),
      budget: roomy(),
      maxRetries: 2,
    });
    await call.send(message(1));
    await call.send(message(2));
    call.closeSend();
    expect(await readAll(call)).toEqual({ payloads: [1, 2], code: undefined });
    expect(route.seen).toEqual(["first", "second", "serving"]);
  });

  it("a first target refusing at once is replaced at once; when the replacement refuses too, startRetryingCall throws", async () => {
    const [closed, otherClosed, serving] = await Promise.all([closedTarget(), closedTarget(), target()]);
    const call = startRetryingCall({ method: UNARY, options: {}, first: closed, another: () => serving, budget: roomy() });
    await call.send(message(7));
    call.closeSend();
    expect(await readAll(call)).toEqual({ payloads: [7], code: undefined });

    expect(() => startRetryingCall({ method: UNARY, options: {}, first: closed, another: () => otherClosed, budget: roomy() })).toThrow(
      expect.objectContaining({ code: Code.UNAVAILABLE }),
    );
  });

  it("a first target failing at once with anything but a refusal is not replaced", async () => {
    const serving = await target();
    const controller = new AbortController();
    controller.abort(new TunnelError(Code.CANCELLED, "caller left"));
    let asked = 0;
    const start = () =>
      startRetryingCall({
        method: UNARY,
        options: { signal: controller.signal },
        first: serving,
        another: () => {
          asked++;
          return serving;
        },
        budget: roomy(),
      });
    expect(start).toThrow(expect.objectContaining({ code: Code.CANCELLED, rawMessage: "caller left" }));
    expect(asked).toBe(0);
  });

  it("without a budget a refusal reaches the caller: nothing was kept to replay", async () => {
    const [refusing, serving] = await Promise.all([target({ refusing: true }), target()]);
    let asked = 0;
    const call = startRetryingCall({
      method: UNARY,
      options: {},
      first: refusing,
      another: () => {
        asked++;
        return serving;
      },
      budget: undefined,
      maxRetries: 5,
    });
    await call.send(message(1));
    call.closeSend();
    expect(await readAll(call)).toEqual({ payloads: [], code: Code.UNAVAILABLE });
    expect(asked).toBe(0);
  });

  it("with unlimited retries over targets that all refuse at once, it backs off instead of spinning, and a cancel ends it", async () => {
    const closed = await closedTarget();
    let asked = 0;
    const fiveAsks = deferred<void>();
    const call = startRetryingCall({
      method: UNARY,
      options: {},
      first: async () => closed,
      another: () => {
        if (++asked === 5) {
          fiveAsks.resolve();
        }
        return closed;
      },
      budget: roomy(),
      maxRetries: Number.POSITIVE_INFINITY,
    });
    // Without a backoff the retries would loop without ever yielding, and this would never resolve.
    await fiveAsks.promise;
    call.cancel(new TunnelError(Code.CANCELLED, "enough"));
    const end = await call.done;
    expect(end.error).toMatchObject({ code: Code.CANCELLED, rawMessage: "enough" });
    const after = asked;
    await expect(call.read()).rejects.toMatchObject({ code: Code.CANCELLED });
    expect(asked).toBe(after);
  });

  it("a first target that resolves to nothing ends the call UNAVAILABLE, and a read reports it", async () => {
    const call = startRetryingCall({
      method: UNARY,
      options: {},
      first: async () => undefined as unknown as CallChannel,
      another: () => undefined,
      budget: roomy(),
    });
    await expect(call.read()).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "no route for the call" });
    expect(call.closed).toBe(true);
    await expect(call.send(message(1))).rejects.toMatchObject({ code: Code.UNAVAILABLE });
  });
});
