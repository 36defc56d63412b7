// The end of one tunneled call, as each end's user sees it: what the
// handler's pending read gets, which trailers and headers go out or are
// heard, and that nothing (a deadline timer) outlives the call.
import { getEventListeners } from "node:events";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { ProtocolRevision } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { clientUnderTest, UNARY } from "./conformance/harness.js";
import { c2s, s2c } from "./support/frames.js";
import { serverWithHeldCalls } from "./support/held-calls.js";

afterEach(() => vi.useRealTimers());

describe("ServerStream: the end of a call", () => {
  it("cancel() without a reason ends the call CANCELLED 'call cancelled'", () => {
    const { open, closeOf } = serverWithHeldCalls();
    const stream = open(1n);
    stream.cancel();
    expect(closeOf(1n).status).toMatchObject({ code: Code.CANCELLED, message: "call cancelled" });
    expect(stream.signal.reason).toMatchObject({ code: Code.CANCELLED, rawMessage: "call cancelled" });
  });

  it("an error's metadata goes out as the trailers when the handler set none", () => {
    const { open, closeOf } = serverWithHeldCalls();
    const stream = open(1n);
    const error = new TunnelError(Code.FAILED_PRECONDITION, "not yet");
    error.metadata.set("x-retry-after", "5");
    stream.close(error);
    expect(closeOf(1n).responseTrailers?.md).toEqual({ "x-retry-after": expect.objectContaining({ val: ["5"] }) });
  });

  it("a read still pending when the handler ends the call settles: with the end after OK, with the error after a failure", async () => {
    const { open } = serverWithHeldCalls();
    const ok = open(1n);
    const okRead = ok.read();
    ok.close(undefined);
    expect(await okRead).toBeUndefined();
    const failed = open(3n);
    const failedRead = failed.read();
    const error = new TunnelError(Code.INTERNAL, "handler broke");
    failed.close(error);
    await expect(failedRead).rejects.toBe(error);
  });

  it("a window update on a revision-0 call is ignored", async () => {
    const { open, engine, kinds } = serverWithHeldCalls();
    const stream = open(1n, {}, ProtocolRevision.REVISION_ZERO);
    engine.receive(c2s.windowUpdate(1n, 100));
    await stream.send(new Uint8Array(3));
    expect(stream.closed).toBe(false);
    expect(kinds(1n)).toEqual(["responseHeaders", "responseMessage"]);
  });

  it("a call's deadline timer goes with the call", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { open } = serverWithHeldCalls({ limits: { idleStreamTimeoutMs: 0 } });
    const stream = open(1n, { "grpc-timeout": "1H" });
    expect(vi.getTimerCount()).toBe(1);
    stream.close(undefined);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("ClientStream: the end of a call", () => {
  it("response headers the tunnel's memory cannot hold: the call fails, and onHeader hears only the empty headers of its end", async () => {
    const client = await clientUnderTest({ limits: { maxTunnelMemoryBytes: 6_000 } });
    const heard: Array<Record<string, unknown>> = [];
    const call = client.engine.openStream(UNARY, undefined, { onHeader: (md) => heard.push(md.getMap()) });
    client.feed(s2c.headers(1n, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-${i}`, "v"]))));
    expect((await call.done).error?.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(heard).toEqual([{}]);
    client.engine.close();
  });

  it("a window update on a revision-0 call is ignored", async () => {
    const client = await clientUnderTest({ settings: s2c.settings(-1n, [0]) });
    const call = client.open();
    client.feed(s2c.windowUpdate(1n, 100));
    await call.send(new Uint8Array(3));
    expect(call.closed).toBe(false);
    client.engine.close();
  });

  it("a call's deadline timer goes with the call", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const client = await clientUnderTest();
    const call = client.engine.openStream(UNARY, undefined, { deadline: Date.now() + 3_600_000 });
    expect(vi.getTimerCount()).toBe(1);
    client.feed(s2c.close(call.id));
    expect(call.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    client.engine.close();
  });

  it("a call leaves no listener on its signal once it ended: a signal shared by many calls does not pile them up", async () => {
    const client = await clientUnderTest();
    const shared = new AbortController().signal;
    const calls = [0, 1, 2].map(() => client.engine.openStream(UNARY, undefined, { signal: shared }));
    expect(getEventListeners(shared, "abort")).toHaveLength(3);
    client.feed(s2c.close(calls[0]!.id));
    calls[1]!.cancel();
    client.feed(s2c.close(calls[2]!.id, Code.NOT_FOUND, "gone"));
    expect(getEventListeners(shared, "abort")).toHaveLength(0);
    client.engine.close();
  });

  it("done is one promise, however often it is asked for before the end", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    const first = call.done;
    expect(call.done).toBe(first);
    client.feed(s2c.close(call.id));
    expect((await first).error).toBeUndefined();
    client.engine.close();
  });

  it("a call that ended stays as it ended when the tunnel fails it afterwards", async () => {
    const client = await clientUnderTest();
    const ends: Array<TunnelError | undefined> = [];
    const call = client.engine.openStream(UNARY, undefined, { onEnd: (end) => ends.push(end.error) });
    client.feed(s2c.close(call.id));
    call.fail(new TunnelError(Code.UNAVAILABLE, "too late"));
    expect(ends).toEqual([undefined]);
    expect((await call.done).error).toBeUndefined();
    expect(await call.read()).toBeUndefined();
    client.engine.close();
  });
});

describe("ServerStream: what arrives after the client's half-close", () => {
  it("a continuation chunk after the half-close is dropped, and the call goes on", async () => {
    const { open, engine } = serverWithHeldCalls();
    const stream = open(1n);
    engine.receive(c2s.message(1n, 1, new Uint8Array([4])));
    engine.receive(c2s.halfClose(1n));
    engine.receive(c2s.more(1n, new Uint8Array([5])));
    expect(stream.closed).toBe(false);
    expect(await stream.read()).toEqual(new Uint8Array([4]));
    expect(await stream.read()).toBeUndefined();
  });
});

describe("more ends of a call", () => {
  it("the tunnel failing a call discards responses not read yet: the reader gets the tunnel's error at once", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    client.feed(s2c.message(1n, 1, new Uint8Array([7])));
    client.engine.abort(new TunnelError(Code.INTERNAL, "broken"));
    await expect(call.read()).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "tunnel failed: broken" });
  });

  it("a handler's signal is one signal", () => {
    const { open } = serverWithHeldCalls();
    const stream = open(1n);
    expect(stream.signal).toBe(stream.signal);
  });

  it("a send after a rejected call writes no headers", async () => {
    const { open, kinds } = serverWithHeldCalls();
    const stream = open(1n);
    stream.reject(new TunnelError(Code.UNAVAILABLE, "elsewhere"));
    await expect(stream.send(new Uint8Array([1]))).rejects.toMatchObject({ code: Code.UNAVAILABLE });
    expect(kinds(1n)).toEqual(["closeStream"]);
  });

  it("a handler that ends its call with an error is not told it was aborted", () => {
    const { open } = serverWithHeldCalls();
    const stream = open(1n);
    const told: TunnelError[] = [];
    stream.whenAborted((reason) => told.push(reason));
    stream.close(new TunnelError(Code.NOT_FOUND, "no such thing"));
    expect(told).toEqual([]);
    expect(stream.signal.aborted).toBe(false);
  });
});
