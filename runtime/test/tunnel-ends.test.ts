// How a tunnel ends, on both engines: closed here, aborted here, or ended by
// the transport (cleanly or broken). Each way tells the running calls why,
// in its own words, ends the tunnel RPC the right way, happens once, and is
// reported to `done`, `onEnd` and `ready` alike.
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { TunnelClientEngine } from "../src/engine/client-engine.js";
import { resolveLimits } from "../src/engine/limits.js";
import { ProtocolRevision, type ClientToServer } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { STREAM_BYTES, metadataBytes } from "../src/engine/memory-costs.js";
import { decodeClientToServerDeferringHeaders, encodeClientToServer } from "../src/protocol/frame-codec.js";
import { clientUnderTest, UNARY } from "./conformance/harness.js";
import { c2s, emptyClientFrame, s2c } from "./support/frames.js";
import { serverWithHeldCalls } from "./support/held-calls.js";
import { MemoryConn } from "./support/memory-conn.js";

/** The tunnel ends of `engine` as `onEnd` reports them. */
function endsOf(engine: { onEnd(listener: (error: TunnelError | undefined) => void): void }): Array<TunnelError | undefined> {
  const ends: Array<TunnelError | undefined> = [];
  engine.onEnd((error) => ends.push(error));
  return ends;
}

describe("tunnel-client engine: the end of the tunnel", () => {
  it("close(): cancels each running call (telling the server), ends the tunnel RPC cleanly, once", async () => {
    const client = await clientUnderTest();
    const first = client.open();
    const second = client.open();
    const ends = endsOf(client.engine);
    client.engine.close();
    for (const call of [first, second]) {
      expect((await call.done).error).toMatchObject({ code: Code.CANCELLED, rawMessage: "tunnel closed" });
      expect(client.sentCancel(call.id)).toBe(true);
    }
    expect([client.conn.ended, client.conn.abortedWith]).toEqual([true, undefined]);
    expect(ends).toEqual([undefined]);
    expect(await client.engine.done).toEqual({ error: undefined });
    expect(client.engine.activeStreams).toBe(0);
    const written = client.conn.written.length;
    client.engine.close();
    client.engine.abort(new TunnelError(Code.INTERNAL, "too late"));
    expect(client.conn.abortedWith).toBeUndefined();
    expect(client.conn.written).toHaveLength(written);
    expect(ends).toEqual([undefined]);
  });

  it("abort(error): fails the running calls with UNAVAILABLE naming the error, tells the server nothing, aborts the RPC", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    const ends = endsOf(client.engine);
    const error = new TunnelError(Code.INTERNAL, "broken pipe");
    client.engine.abort(error);
    expect((await call.done).error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "tunnel failed: broken pipe" });
    expect(client.sentCancel(call.id)).toBe(false);
    expect(client.conn.abortedWith).toBe(error);
    expect(client.conn.ended).toBe(false);
    expect(ends).toEqual([error]);
    expect((await client.engine.done).error).toBe(error);
    expect(client.engine.error).toBe(error);
    client.engine.abort(new TunnelError(Code.INTERNAL, "again"));
    client.engine.close();
    expect(client.conn.abortedWith).toBe(error);
    expect(client.conn.ended).toBe(false);
  });

  it("a broken transport fails the running calls with UNAVAILABLE naming why; the tunnel's error is the transport's", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    const error = new TunnelError(Code.UNAVAILABLE, "connection reset");
    client.engine.transportEnded(error);
    expect((await call.done).error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "tunnel closed: connection reset" });
    expect(client.engine.error).toBe(error);
    // The transport is over: nothing is ended or aborted on it.
    expect([client.conn.ended, client.conn.abortedWith]).toEqual([false, undefined]);
  });

  it("ready rejects with why the tunnel ended while negotiating", async () => {
    const closed = await clientUnderTest({ settings: "withheld" });
    closed.engine.close();
    await expect(closed.engine.ready).rejects.toMatchObject({ code: Code.CANCELLED, rawMessage: "tunnel closed" });
    const aborted = await clientUnderTest({ settings: "withheld" });
    const error = new TunnelError(Code.INTERNAL, "bad peer");
    aborted.engine.abort(error);
    await expect(aborted.engine.ready).rejects.toBe(error);
    const peerEnded = await clientUnderTest({ settings: "withheld" });
    peerEnded.engine.transportEnded();
    await expect(peerEnded.engine.ready).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: "tunnel closed: tunnel closed by peer",
    });
    expect(peerEnded.engine.error).toBeUndefined();
  });

  it("ignores frames once the tunnel ended, and tells onEnd listeners registered late at once", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    const error = new TunnelError(Code.UNAVAILABLE, "gone");
    client.engine.transportEnded(error);
    client.feed(s2c.headers(1n), { undecodable: "junk" }, s2c.close(1n));
    expect(call.endError).toMatchObject({ rawMessage: "tunnel closed: gone" });
    expect(client.engine.error).toBe(error);
    const late: Array<TunnelError | undefined> = [];
    client.engine.onEnd((e) => late.push(e));
    expect(late).toEqual([error]);
  });

  it("openStream with a deadline: the server gets grpc-timeout with the other headers; the caller's metadata is left as it was", async () => {
    const client = await clientUnderTest();
    const metadata = new Metadata();
    metadata.set("x-trace", "t1");
    client.engine.openStream(UNARY, metadata, { deadline: Date.now() + 60_000 });
    client.engine.openStream(UNARY, undefined, { deadline: Date.now() + 60_000 });
    client.engine.openStream(UNARY, metadata);
    expect(metadata.getMap()).toEqual({ "x-trace": "t1" });
    const headers = client.conn.written
      .filter((f) => f.frame.case === "newStream")
      .map((f) => (f.frame.value as { requestHeaders?: { md: Record<string, { val: string[] }> } }).requestHeaders?.md ?? {});
    expect(Object.keys(headers[0]!).sort()).toEqual(["grpc-timeout", "x-trace"]);
    expect(headers[0]!["grpc-timeout"]!.val[0]).toMatch(/^\d+[mu]$/);
    expect(Object.keys(headers[1]!)).toEqual(["grpc-timeout"]);
    expect(Object.keys(headers[2]!)).toEqual(["x-trace"]);
    client.engine.close();
  });

  it("a call's deadline cancels it, telling the server", async () => {
    const client = await clientUnderTest();
    const call = client.engine.openStream(UNARY, undefined, { deadline: Date.now() + 5 });
    expect((await call.done).error?.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(client.sentCancel(call.id)).toBe(true);
    client.engine.close();
  });

  it("sends within the window the server's Settings advertised", async () => {
    const client = await clientUnderTest({ settings: s2c.settings(-1n, [0, 1], 10) });
    const call = client.open();
    const sent = call.send(new Uint8Array(25));
    const chunks = () =>
      client.conn.written.flatMap((f) =>
        f.frame.case === "requestMessage" ? [f.frame.value.data.length] : f.frame.case === "moreRequestData" ? [f.frame.value.length] : [],
      );
    expect(chunks()).toEqual([10]);
    client.feed(s2c.windowUpdate(1n, 20));
    await sent;
    expect(chunks()).toEqual([10, 15]);
    client.engine.close();
  });

  it("a client without flow control uses revision 0 even when the server offers 1", () => {
    const conn = new MemoryConn<ClientToServer>();
    const engine = new TunnelClientEngine(conn, { flowControl: false, expectSettings: true, limits: resolveLimits(undefined) });
    engine.receive(s2c.settings(-1n, [0, 1]));
    expect(engine.protocolRevision).toBe(ProtocolRevision.REVISION_ZERO);
    engine.openStream(UNARY, undefined);
    expect(conn.written[0]!.frame.value).toMatchObject({ protocolRevision: ProtocolRevision.REVISION_ZERO });
    engine.close();
  });
});

describe("tunnel-server engine: the end of the tunnel", () => {
  it("abort(error): aborts the running calls with UNAVAILABLE naming the error and the tunnel RPC, without a close per call", async () => {
    const { engine, conn, open } = serverWithHeldCalls();
    const stream = open(1n);
    const ends = endsOf(engine);
    const error = new TunnelError(Code.INTERNAL, "bad frame");
    engine.abort(error);
    expect(stream.signal.aborted).toBe(true);
    expect(stream.signal.reason).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "tunnel failed: bad frame" });
    expect(conn.abortedWith).toBe(error);
    expect(conn.ended).toBe(false);
    expect(conn.written.some((f) => f.frame.case === "closeStream")).toBe(false);
    expect(ends).toEqual([error]);
    expect((await engine.done).error).toBe(error);
    engine.abort(new TunnelError(Code.INTERNAL, "again"));
    engine.close();
    expect(conn.abortedWith).toBe(error);
    expect(conn.ended).toBe(false);
    expect(ends).toEqual([error]);
  });

  it("the transport ending cleanly cancels the running calls; broken, it fails them with UNAVAILABLE; the RPC is left alone", async () => {
    const clean = serverWithHeldCalls();
    const calm = clean.open(1n);
    clean.engine.transportEnded();
    expect(calm.signal.reason).toMatchObject({ code: Code.CANCELLED, rawMessage: "tunnel closed" });
    expect((await clean.engine.done).error).toBeUndefined();
    expect([clean.conn.ended, clean.conn.abortedWith]).toEqual([false, undefined]);

    const broken = serverWithHeldCalls();
    const hurt = broken.open(1n);
    const error = new TunnelError(Code.UNAVAILABLE, "connection reset");
    broken.engine.transportEnded(error);
    expect(hurt.signal.reason).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "tunnel failed: connection reset" });
    expect(broken.engine.error).toBe(error);
    expect([broken.conn.ended, broken.conn.abortedWith]).toEqual([false, undefined]);
    await expect(hurt.read()).rejects.toBe(hurt.signal.reason);
  });

  it("whenIdle resolves at once without calls, else once the last running call ended", async () => {
    const { engine, open } = serverWithHeldCalls();
    await engine.whenIdle();
    open(1n);
    open(3n);
    let idle = 0;
    void engine.whenIdle().then(() => idle++);
    void engine.whenIdle().then(() => idle++);
    engine.receive(c2s.cancel(1n));
    await new Promise((resolve) => setImmediate(resolve));
    expect(idle).toBe(0);
    expect(engine.activeStreams).toBe(1);
    engine.receive(c2s.cancel(3n));
    await new Promise((resolve) => setImmediate(resolve));
    expect(idle).toBe(2);
    expect(engine.activeStreams).toBe(0);
  });

  it("sends Settings first only when the client advertised negotiation, offering revision 1 only with flow control", () => {
    const silent = serverWithHeldCalls({ peerAdvertised: false });
    expect(silent.conn.written).toEqual([]);
    const offering = serverWithHeldCalls({ peerAdvertised: true });
    expect(offering.conn.written[0]).toMatchObject({
      streamId: -1n,
      frame: { case: "settings", value: { supportedProtocolRevisions: [ProtocolRevision.REVISION_ZERO, ProtocolRevision.REVISION_ONE] } },
    });
    const legacy = serverWithHeldCalls({ peerAdvertised: true, flowControl: false });
    expect(legacy.conn.written[0]).toMatchObject({
      frame: { case: "settings", value: { supportedProtocolRevisions: [ProtocolRevision.REVISION_ZERO] } },
    });
  });

  it("revisionInUse is the revision of the latest call started, undefined before any", () => {
    const { engine, open } = serverWithHeldCalls();
    expect(engine.revisionInUse).toBeUndefined();
    expect(open(1n, {}, ProtocolRevision.REVISION_ONE).protocolRevision).toBe(1);
    expect(engine.revisionInUse).toBe(1);
    expect(open(3n, {}, ProtocolRevision.REVISION_ZERO).protocolRevision).toBe(0);
    expect(engine.revisionInUse).toBe(0);
    expect(engine.info.protocolRevision).toBe(0);
  });
});

describe("tunnel-client engine: its peer ending the tunnel RPC", () => {
  it("refuses new calls with one refusal, the same error every listener was told, however often the transport says so", async () => {
    const client = await clientUnderTest();
    const told: TunnelError[] = [];
    client.engine.onPeerEnding((reason) => told.push(reason));
    client.engine.transportEnding();
    client.engine.transportEnding();
    client.engine.onPeerEnding((reason) => told.push(reason));
    let refusal: unknown;
    try {
      client.open();
    } catch (e) {
      refusal = e;
    }
    expect(told).toHaveLength(2);
    expect(told[1]).toBe(told[0]);
    expect(refusal).toBe(told[0]);
    client.engine.close();
  });
});

describe("stream ID 0 names no stream", () => {
  it("a frame for stream 0 ends the client's tunnel with a protocol error", async () => {
    const client = await clientUnderTest();
    client.open();
    client.feed(s2c.headers(0n));
    expect(client.engine.error).toMatchObject({
      code: Code.INTERNAL,
      rawMessage: "protocol error: received responseHeaders frame for stream ID 0: stream never created",
    });
  });

  it("a NewStream with ID 0 ends the server's tunnel with a protocol error", () => {
    const { engine, conn } = serverWithHeldCalls();
    engine.receive(c2s.newStream(0n, "/test.Held/Call"));
    expect(engine.error).toMatchObject({
      code: Code.INTERNAL,
      rawMessage: "protocol error: cannot create stream ID 0: that ID has already been used",
    });
    expect(conn.abortedWith).toBe(engine.error);
  });
});

describe("request headers decoded only once a stream is accepted (as a tunnel server receives them)", () => {
  /** `frame` as the tunnel server's transport decodes it: the request headers left as bytes. */
  const received = (frame: ClientToServer) => decodeClientToServerDeferringHeaders(encodeClientToServer(frame));

  it("a call holds its bookkeeping and its decoded metadata, charged once", () => {
    const { engine, open, streams } = serverWithHeldCalls();
    const md = { "x-a": "1", "x-b": "two" };
    engine.receive(received(c2s.newStream(1n, "/test.Held/Call", ProtocolRevision.REVISION_ONE, md)));
    expect(streams[0]!.metadata.getMap()).toEqual(md);
    expect(open(3n).metadata.getMap()).toEqual({});
    const proto = c2s.newStream(1n, "", ProtocolRevision.REVISION_ONE, md).frame.value as {
      requestHeaders: Parameters<typeof metadataBytes>[0];
    };
    expect(engine.memory.used).toBe(2 * STREAM_BYTES + metadataBytes(proto.requestHeaders) + metadataBytes(undefined));
  });

  it("header bytes that do not decode end the tunnel as an undecodable frame, holding nothing", () => {
    const { engine, conn } = serverWithHeldCalls();
    const frame = received(c2s.newStream(1n, "/test.Held/Call", ProtocolRevision.REVISION_ONE, { "x-a": "1" }));
    (frame.frame.value as { headersView?: Uint8Array }).headersView?.fill(0xff);
    engine.receive(frame);
    expect(engine.error).toMatchObject({ code: Code.INTERNAL, rawMessage: expect.stringMatching(/^protocol error: undecodable frame: /) });
    expect(conn.abortedWith).toBe(engine.error);
    expect(engine.activeStreams).toBe(0);
    expect(engine.memory.used).toBe(0);
  });
});

describe("a tunnel server that ended", () => {
  it("starts no call for a NewStream that arrives after its end", () => {
    const { engine, streams, conn } = serverWithHeldCalls();
    engine.close();
    const written = conn.written.length;
    engine.receive(c2s.newStream(1n, "/test.Held/Call"));
    expect(streams).toEqual([]);
    expect(engine.activeStreams).toBe(0);
    expect(conn.written).toHaveLength(written);
  });
});

describe("tunnel-server engine: memory for a new call", () => {
  it("refuses a NewStream whose decoded metadata the tunnel's memory cannot hold, holding nothing after", async () => {
    const { engine, streams, closeOf } = serverWithHeldCalls({ limits: { maxTunnelMemoryBytes: 6_000 } });
    const md = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-${i}`, "v"]));
    engine.receive(c2s.newStream(1n, "/test.Held/Call", ProtocolRevision.REVISION_ONE, md));
    expect(streams).toEqual([]);
    expect(closeOf(1n).status).toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      message: "memory limit maxTunnelMemoryBytes (6000 bytes) reached",
    });
    await new Promise((resolve) => setImmediate(resolve)); // the close went out
    expect(engine.memory.used).toBe(0);
  });

  it("holds nothing for a NewStream refused for its metadata or its grpc-timeout", async () => {
    const { engine, streams, closeOf } = serverWithHeldCalls();
    engine.receive(c2s.newStream(1n, "/test.Held/Call", ProtocolRevision.REVISION_ONE, { "NOT VALID": "x" }));
    engine.receive(c2s.newStream(3n, "/test.Held/Call", ProtocolRevision.REVISION_ONE, { "grpc-timeout": "soon" }));
    expect(streams).toEqual([]);
    expect([closeOf(1n).status?.code, closeOf(3n).status?.code]).toEqual([Code.INVALID_ARGUMENT, Code.INVALID_ARGUMENT]);
    await new Promise((resolve) => setImmediate(resolve)); // the closes went out
    expect(engine.memory.used).toBe(0);
  });
});

describe("tunnel-server engine: method names", () => {
  it("refuses a method whose service name is empty", () => {
    const { engine, streams, closeOf } = serverWithHeldCalls();
    engine.receive(c2s.newStream(1n, "//Method"));
    expect(streams).toEqual([]);
    expect(closeOf(1n).status).toMatchObject({ code: Code.INVALID_ARGUMENT, message: '"//Method" is not a well-formed method name' });
  });
});

describe("a frame of no known kind for a stream never created", () => {
  it("ends the tunnel with a protocol error naming it unknown, on either end", async () => {
    const client = await clientUnderTest();
    client.feed(s2c.empty(5n));
    expect(client.engine.error).toMatchObject({
      code: Code.INTERNAL,
      rawMessage: "protocol error: received unknown frame for stream ID 5: stream never created",
    });
    const { engine } = serverWithHeldCalls();
    engine.receive(emptyClientFrame(7n));
    expect(engine.error).toMatchObject({
      code: Code.INTERNAL,
      rawMessage: "protocol error: received unknown frame for stream ID 7: stream never created",
    });
  });
});
