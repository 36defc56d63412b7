// The byte-level call API the engines hand out (ServerStream to handlers,
// ClientStream to callers): what each method promises, what it refuses and
// with which status, and what reaches the wire.
import { Metadata } from "@grpc/grpc-js";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Code, TunnelError, processMemoryUsage, setProcessMemoryLimit } from "../src/index.js";
import type { ServerToClient } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { clientUnderTest, UNARY } from "./conformance/harness.js";
import { c2s, s2c } from "./support/frames.js";
import { serverWithHeldCalls } from "./support/held-calls.js";

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe("ServerStream", () => {
  it("sendHeaders sends them once; a second time throws INTERNAL; after the call ended it sends nothing", () => {
    const { open, kinds } = serverWithHeldCalls();
    const stream = open(1n);
    stream.responseHeaders.set("x-h", "1");
    stream.sendHeaders();
    expect(kinds(1n)).toEqual(["responseHeaders"]);
    expect(() => stream.sendHeaders()).toThrow(
      expect.objectContaining({ code: Code.INTERNAL, rawMessage: "response headers were already sent" }),
    );
    const late = open(3n);
    late.reject(new TunnelError(Code.UNAVAILABLE, "refused"));
    late.sendHeaders();
    expect(kinds(3n)).toEqual(["closeStream"]);
  });

  it("send sends the headers first, once, then each message", async () => {
    const { open, kinds, conn } = serverWithHeldCalls();
    const stream = open(1n);
    stream.responseHeaders.set("x-h", "v");
    await stream.send(new Uint8Array([1]));
    await stream.send(new Uint8Array([2]));
    expect(kinds(1n)).toEqual(["responseHeaders", "responseMessage", "responseMessage"]);
    expect(conn.written[0]!.frame.value).toMatchObject({ md: { "x-h": { val: ["v"] } } });
    stream.close(undefined);
    expect(kinds(1n)).toEqual(["responseHeaders", "responseMessage", "responseMessage", "closeStream"]);
  });

  it("a send after the call ended fails with the call's error, or INTERNAL 'call already completed' after OK, and sends nothing", async () => {
    const { open, kinds, engine } = serverWithHeldCalls();
    const ok = open(1n);
    ok.close(undefined);
    await expect(ok.send(new Uint8Array([1]))).rejects.toMatchObject({ code: Code.INTERNAL, rawMessage: "call already completed" });
    expect(kinds(1n)).toEqual(["responseHeaders", "closeStream"]);
    const cancelled = open(3n);
    engine.receive(c2s.cancel(3n));
    await expect(cancelled.send(new Uint8Array([1]))).rejects.toMatchObject({
      code: Code.CANCELLED,
      rawMessage: "call cancelled by client",
    });
    expect(kinds(3n)).toEqual(["responseHeaders", "closeStream"]);
  });

  it("close sends the trailers and status; an error's own metadata joins the trailers without changing them", () => {
    const { open, closeOf } = serverWithHeldCalls();
    const ok = open(1n);
    ok.responseTrailers.set("x-t", "ok");
    ok.close(undefined);
    expect(closeOf(1n).responseTrailers?.md).toEqual({ "x-t": expect.objectContaining({ val: ["ok"] }) });
    expect(closeOf(1n).status).toBeUndefined();

    const failed = open(3n);
    failed.responseTrailers.set("x-t", "kept");
    const errorMetadata = new Metadata();
    errorMetadata.set("x-e", "why");
    failed.close(new TunnelError(Code.NOT_FOUND, "no such thing", { metadata: errorMetadata }));
    expect(Object.keys(closeOf(3n).responseTrailers?.md ?? {}).sort()).toEqual(["x-e", "x-t"]);
    expect(closeOf(3n).status).toMatchObject({ code: Code.NOT_FOUND, message: "no such thing" });
    expect(failed.responseTrailers.getMap()).toEqual({ "x-t": "kept" });
  });

  it("reject ends the call with only a close_stream, which the client takes as refused; once headers went, it throws", async () => {
    const { open, kinds, closeOf } = serverWithHeldCalls();
    const stream = open(1n);
    stream.reject(new TunnelError(Code.UNAVAILABLE, "go elsewhere"));
    expect(kinds(1n)).toEqual(["closeStream"]);
    expect(closeOf(1n).status).toMatchObject({ code: Code.UNAVAILABLE, message: "go elsewhere" });
    expect(stream.closed).toBe(true);

    const answered = open(3n);
    answered.sendHeaders();
    expect(() => answered.reject(new TunnelError(Code.UNAVAILABLE, "too late"))).toThrow(
      expect.objectContaining({ code: Code.INTERNAL, rawMessage: "cannot reject a call whose response headers were sent" }),
    );
    expect(kinds(3n)).toEqual(["responseHeaders"]);
    expect(answered.closed).toBe(false);
  });

  it("reserveMemory: true while the tunnel's budget holds it; false when it does not, and the call then fails with RESOURCE_EXHAUSTED", () => {
    const { open, closeOf, engine } = serverWithHeldCalls({ limits: { maxTunnelMemoryBytes: 64 * 1024 } });
    const stream = open(1n);
    const before = engine.memory.used;
    expect(stream.reserveMemory(1000)).toBe(true);
    expect(engine.memory.used).toBe(before + 1000);
    expect(stream.closed).toBe(false);
    expect(stream.reserveMemory(64 * 1024)).toBe(false);
    expect(stream.closed).toBe(true);
    expect(stream.signal.reason).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(closeOf(1n).status).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
  });

  it("a signal asked for after the call was cancelled is already aborted, with the reason", () => {
    const { open, engine } = serverWithHeldCalls();
    const stream = open(1n);
    engine.receive(c2s.cancel(1n));
    expect(stream.signal.aborted).toBe(true);
    expect(stream.signal.reason).toMatchObject({ code: Code.CANCELLED, rawMessage: "call cancelled by client" });
  });

  it("carries the call's metadata without grpc-timeout, and its deadline as a Date", () => {
    const { open } = serverWithHeldCalls();
    const before = Date.now();
    const stream = open(1n, { "x-a": "1", "grpc-timeout": "5S" });
    expect(stream.metadata.getMap()).toEqual({ "x-a": "1" });
    expect(stream.deadline).toBeInstanceOf(Date);
    expect(stream.deadline!.getTime()).toBeGreaterThanOrEqual(before + 5000);
    expect(stream.deadline!.getTime()).toBeLessThanOrEqual(Date.now() + 5000);
    expect(stream.method).toBe("/test.Held/Call");
    expect(open(3n).deadline).toBeUndefined();
  });

  it("one read at a time: a second concurrent read is refused", async () => {
    const { open, engine } = serverWithHeldCalls();
    const stream = open(1n);
    const first = stream.read();
    await expect(stream.read()).rejects.toThrow("MessageQueue.read: concurrent reads are not supported");
    engine.receive(c2s.message(1n, 1, new Uint8Array([9])));
    expect(await first).toEqual(new Uint8Array([9]));
  });
});

describe("ServerStream and the idle stream timeout", () => {
  afterEach(() => vi.useRealTimers());

  it("a call that got a message, a message's last chunk or a half-close, or that sent headers, is not idle", () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
    const { open, engine, closeOf } = serverWithHeldCalls({ limits: { idleStreamTimeoutMs: 1000 } });
    const silent = open(1n);
    const messaged = open(3n);
    const chunked = open(5n);
    const halfClosed = open(7n);
    const answered = open(9n);
    engine.receive(c2s.message(3n, 1, new Uint8Array(1)));
    engine.receive(c2s.message(5n, 2, new Uint8Array(1)));
    engine.receive(c2s.more(5n, new Uint8Array(1)));
    engine.receive(c2s.halfClose(7n));
    answered.sendHeaders();
    vi.advanceTimersByTime(1000);
    expect(silent.closed).toBe(true);
    expect(closeOf(1n).status).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect([messaged, chunked, halfClosed, answered].map((s) => s.closed)).toEqual([false, false, false, false]);
    engine.close();
  });
});

describe("ClientStream", () => {
  it("done resolves with the end, whether asked for before or after it", async () => {
    const client = await clientUnderTest();
    const early = client.open();
    const pending = early.done;
    client.feed(s2c.close(1n, Code.NOT_FOUND, "nope"));
    expect((await pending).error).toMatchObject({ code: Code.NOT_FOUND, rawMessage: "nope" });
    expect(await early.done).toBe(await pending);
    client.engine.close();
  });

  it("a send after the call ended fails with its error, or INTERNAL 'call already completed' after OK", async () => {
    const client = await clientUnderTest();
    const ok = client.open();
    client.feed(s2c.close(1n));
    await expect(ok.send(new Uint8Array([1]))).rejects.toMatchObject({ code: Code.INTERNAL, rawMessage: "call already completed" });
    const failed = client.open();
    client.feed(s2c.close(2n, Code.ABORTED, "conflict"));
    await expect(failed.send(new Uint8Array([1]))).rejects.toMatchObject({ code: Code.ABORTED, rawMessage: "conflict" });
    // A send after both the half-close and the end gets the end's error, not the half-close's.
    const halfClosed = client.open();
    halfClosed.closeSend();
    client.feed(s2c.close(3n, Code.ABORTED, "late"));
    await expect(halfClosed.send(new Uint8Array([1]))).rejects.toMatchObject({ code: Code.ABORTED, rawMessage: "late" });
    expect(client.conn.written.filter((f) => f.frame.case === "requestMessage")).toEqual([]);
    client.engine.close();
  });

  it("closeSend sends one half_close, and none once the call ended", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    call.closeSend();
    call.closeSend();
    const ended = client.open();
    ended.cancel();
    ended.closeSend();
    const halfCloses = client.conn.written.filter((f) => f.frame.case === "halfClose").map((f) => f.streamId);
    expect(halfCloses).toEqual([1n]);
    client.engine.close();
  });

  it("an aborted signal cancels the call with its reason and tells the server; once the call ended, aborting does nothing", async () => {
    const client = await clientUnderTest();
    const controller = new AbortController();
    const call = client.engine.openStream(UNARY, undefined, { signal: controller.signal });
    controller.abort(new TunnelError(Code.CANCELLED, "user left"));
    expect((await call.done).error).toMatchObject({ code: Code.CANCELLED, rawMessage: "user left" });
    expect(client.sentCancel(1n)).toBe(true);

    const later = new AbortController();
    const finished = client.engine.openStream(UNARY, undefined, { signal: later.signal });
    client.feed(s2c.close(2n));
    await finished.done;
    later.abort();
    expect(client.sentCancel(2n)).toBe(false);
    expect(finished.endError).toBeUndefined();
    client.engine.close();
  });

  it("cancel without a reason ends the call CANCELLED 'call cancelled'; a second cancel sends nothing more", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    call.cancel();
    call.cancel(new TunnelError(Code.ABORTED, "again"));
    expect((await call.done).error).toMatchObject({ code: Code.CANCELLED, rawMessage: "call cancelled" });
    expect(client.conn.written.filter((f) => f.frame.case === "cancel")).toHaveLength(1);
    await expect(call.read()).rejects.toMatchObject({ code: Code.CANCELLED });
    client.engine.close();
  });

  it("onHeader hears empty headers when the call ends without any, and hears the server's once otherwise", async () => {
    const client = await clientUnderTest();
    const heard: Array<Record<string, unknown>> = [];
    const bare = client.engine.openStream(UNARY, undefined, { onHeader: (md) => heard.push(md.getMap()) });
    client.feed(s2c.close(1n, Code.INTERNAL, "boom"));
    await bare.done;
    const answered = client.engine.openStream(UNARY, undefined, { onHeader: (md) => heard.push(md.getMap()) });
    client.feed(s2c.headers(2n, { h: "v" }), s2c.close(2n));
    await answered.done;
    expect(heard).toEqual([{}, { h: "v" }]);
    client.engine.close();
  });

  it("undecodable trailers end the call with INTERNAL, and the client does not answer the server's close", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    client.feed(s2c.close(1n, 0, "", { "NOT VALID": "x" }));
    expect((await call.done).error).toMatchObject({
      code: Code.INTERNAL,
      rawMessage: expect.stringMatching(/^invalid metadata from peer/),
    });
    expect(client.sentCancel(1n)).toBe(false);
    expect(client.engine.closed).toBe(false);
    client.engine.close();
  });

  it("refused: only an UNAVAILABLE or RESOURCE_EXHAUSTED close that came before any headers or response", async () => {
    const client = await clientUnderTest();
    const ends = [];
    const cases: Array<[code: Code, before: Array<ServerToClient>]> = [
      [Code.UNAVAILABLE, []],
      [Code.RESOURCE_EXHAUSTED, []],
      [Code.UNIMPLEMENTED, []],
      [Code.UNAVAILABLE, [s2c.headers(0n)]],
      [Code.UNAVAILABLE, [s2c.message(0n, 3, new Uint8Array(3))]],
      [Code.UNAVAILABLE, [s2c.message(0n, 3, new Uint8Array(1))]],
    ];
    for (const [code, before] of cases) {
      const call = client.open();
      client.feed(...before.map((f) => ({ ...f, streamId: call.id })), s2c.close(call.id, code, "no"));
      ends.push((await call.done).refused === true);
    }
    expect(ends).toEqual([true, true, false, false, false, false]);
    const ok = client.open();
    client.feed(s2c.close(ok.id));
    expect((await ok.done).refused).toBeUndefined();
    client.engine.close();
  });

  it("one send at a time: a send while another waits for the window is refused; ending the call fails the waiting one", async () => {
    const client = await clientUnderTest({ settings: s2c.settings(-1n, [1], 4) });
    const call = client.open();
    const waiting = call.send(new Uint8Array(10));
    await expect(call.send(new Uint8Array(1))).rejects.toThrow("MessageSender.send: a message is already being sent on this stream");
    call.cancel(new TunnelError(Code.ABORTED, "gave up"));
    await expect(waiting).rejects.toMatchObject({ code: Code.ABORTED, rawMessage: "gave up" });
    const sent = client.conn.written.filter((f) => f.frame.case === "requestMessage" || f.frame.case === "moreRequestData");
    expect(sent).toHaveLength(1); // the first 4 bytes, before the window closed
    client.engine.close();
  });

  it("a send waiting for the transport fails when the tunnel ends, and its frame is never written", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    client.conn.writable = false;
    await call.send(new Uint8Array(10)); // taken by the transport, which is now full
    const waiting = call.send(new Uint8Array(20));
    client.engine.abort(new TunnelError(Code.INTERNAL, "broken"));
    await expect(waiting).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "tunnel failed: broken" });
    const sizes = client.conn.written.flatMap((f) => (f.frame.case === "requestMessage" ? [f.frame.value.size] : []));
    expect(sizes).toEqual([10]);
  });

  it("a message waiting to be sent is charged to the tunnel until it went; one the budget cannot hold cancels the call", async () => {
    const client = await clientUnderTest({ settings: s2c.settings(-1n, [1], 10), limits: { maxTunnelMemoryBytes: 64 * 1024 } });
    const call = client.open();
    await flush();
    const idle = client.engine.memory.used;
    const sending = call.send(new Uint8Array(5_000));
    expect(client.engine.memory.used).toBeGreaterThanOrEqual(idle + 5_000);
    client.feed(s2c.windowUpdate(1n, 5_000));
    await sending;
    await flush();
    expect(client.engine.memory.used).toBe(idle);

    const refused = call.send(new Uint8Array(64 * 1024));
    await expect(refused).rejects.toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      rawMessage: expect.stringContaining("maxTunnelMemoryBytes"),
    });
    expect((await call.done).error).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(client.sentCancel(1n)).toBe(true);
    client.engine.close();
  });

  it("a message over 4 GiB (the protocol's largest size) is refused RESOURCE_EXHAUSTED, and the call goes on", async () => {
    await withRoomFor4GiB(async (client) => {
      const call = client.open();
      // Claims 2^32 bytes without allocating them; the sender reads only its length before refusing it.
      const huge = Object.defineProperty(new Uint8Array(1), "length", { value: 2 ** 32 });
      await expect(call.send(huge)).rejects.toMatchObject({
        code: Code.RESOURCE_EXHAUSTED,
        rawMessage: "message of 4294967296 bytes is too large for the tunnel protocol",
      });
      expect(client.conn.written.filter((f) => f.frame.case === "requestMessage")).toEqual([]);
      await call.send(new Uint8Array(3));
      expect(call.closed).toBe(false);
    });
  });

  it("a message of exactly 2^32 - 1 bytes (the largest) is sent: its envelope declares that size", async () => {
    await withRoomFor4GiB(async (client) => {
      const call = client.open();
      const largest = Object.defineProperty(new Uint8Array(1), "length", { value: 2 ** 32 - 1 });
      const sending = call.send(largest);
      const envelope = client.conn.written.find((f) => f.frame.case === "requestMessage");
      expect(envelope?.frame.value).toMatchObject({ size: 2 ** 32 - 1 });
      call.cancel(); // the rest would wait for the peer's window
      await expect(sending).rejects.toMatchObject({ code: Code.CANCELLED });
    });
  });

  it("a local end discards responses not read yet; a server's end lets the reader drain them first", async () => {
    const client = await clientUnderTest();
    const closedByServer = client.open();
    client.feed(s2c.message(1n, 1, new Uint8Array([7])), s2c.close(1n, Code.ABORTED, "after one"));
    expect(await closedByServer.read()).toEqual(new Uint8Array([7]));
    await expect(closedByServer.read()).rejects.toMatchObject({ code: Code.ABORTED });
    const cancelled = client.open();
    client.feed(s2c.message(2n, 1, new Uint8Array([7])));
    await flush();
    cancelled.cancel();
    await expect(cancelled.read()).rejects.toMatchObject({ code: Code.CANCELLED });
    client.engine.close();
  });
});

/**
 * Runs `run` with a client whose budgets (and the process's) would take
 * 4 GiB, for messages that only claim such a length; then restores the
 * process limit and closes the client.
 */
async function withRoomFor4GiB(run: (client: Awaited<ReturnType<typeof clientUnderTest>>) => Promise<void>): Promise<void> {
  const limit = processMemoryUsage().limit;
  setProcessMemoryLimit(2 ** 40); // the budgets would refuse the message first otherwise
  try {
    const client = await clientUnderTest({ limits: { maxTunnelMemoryBytes: 2 ** 40, maxConnectionMemoryBytes: 2 ** 40 } });
    await run(client);
    client.engine.close();
  } finally {
    setProcessMemoryLimit(limit);
  }
}
