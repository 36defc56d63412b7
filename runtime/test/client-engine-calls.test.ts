// When the tunnel client's engine refuses to start a call, and which
// protocol revision it reports: a call is never started on a tunnel that
// cannot carry it, and the refusal says why.
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it, vi } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { TunnelClientEngine } from "../src/engine/client-engine.js";
import { resolveLimits } from "../src/engine/limits.js";
import type { ClientToServer } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { settingsFrame } from "../src/protocol/negotiation.js";
import { clientUnderTest } from "./conformance/harness.js";
import { s2c } from "./support/frames.js";
import { MemoryConn } from "./support/memory-conn.js";

describe("TunnelClientEngine.openStream", () => {
  it("refuses a call while the revision is being negotiated", async () => {
    const client = await clientUnderTest({ settings: "withheld" });
    expect(() => client.open()).toThrow(
      expect.objectContaining({ code: Code.UNAVAILABLE, rawMessage: "tunnel is still negotiating its protocol revision" }),
    );
    client.engine.close();
  });

  it("refuses a call on a closed tunnel, naming the error it ended with", async () => {
    const closed = await clientUnderTest();
    closed.engine.close();
    expect(() => closed.open()).toThrow(expect.objectContaining({ code: Code.UNAVAILABLE, rawMessage: "tunnel is closed" }));
    const failed = await clientUnderTest();
    failed.engine.abort(new TunnelError(Code.INTERNAL, "peer broke the protocol"));
    expect(() => failed.open()).toThrow(
      expect.objectContaining({ code: Code.UNAVAILABLE, rawMessage: "tunnel is closed: peer broke the protocol" }),
    );
  });

  it("refuses a call the tunnel's memory cannot hold, naming the limit, and takes calls again once one ended", async () => {
    // Room for one call's bookkeeping (4 KiB), not two.
    const client = await clientUnderTest({ limits: { maxTunnelMemoryBytes: 6 * 1024 } });
    const first = client.open();
    const sent = client.conn.written.length;
    expect(() => client.open()).toThrow(
      expect.objectContaining({ code: Code.RESOURCE_EXHAUSTED, rawMessage: expect.stringContaining("maxTunnelMemoryBytes") }),
    );
    expect(client.conn.written).toHaveLength(sent); // the refused call sent nothing
    first.cancel();
    await first.done;
    expect(client.open().closed).toBe(false);
    client.engine.close();
  });

  it("refuses a call whose signal is already aborted, with the signal's reason", async () => {
    const client = await clientUnderTest();
    const signal = AbortSignal.abort(new TunnelError(Code.CANCELLED, "caller left"));
    expect(() => client.engine.openStream("/a.B/C", new Metadata(), { signal })).toThrow(
      expect.objectContaining({ code: Code.CANCELLED, rawMessage: "caller left" }),
    );
    expect(client.conn.written).toEqual([]); // nothing reached the wire
    client.engine.close();
  });
});

describe("TunnelClientEngine.revisionInUse", () => {
  it("is undefined while negotiating, then the revision both sides speak; 0 without negotiation", async () => {
    const negotiating = await clientUnderTest({ settings: "withheld" });
    expect(negotiating.engine.revisionInUse).toBeUndefined();
    negotiating.feed(settingsFrame(true));
    expect(negotiating.engine.revisionInUse).toBe(1);
    const revisionZero = await clientUnderTest({ settings: settingsFrame(false) });
    expect(revisionZero.engine.revisionInUse).toBe(0);
    const legacy = await clientUnderTest({ settings: null });
    expect(legacy.engine.revisionInUse).toBe(0);
    for (const client of [negotiating, revisionZero, legacy]) client.engine.close();
  });
});

describe("TunnelClientEngine, after negotiation", () => {
  it("fails the call a second Settings frame names, saying so, and keeps the tunnel", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    const other = client.open();
    client.feed(s2c.settings(1n, [0, 1]));
    const end = await call.done;
    expect(end.error).toMatchObject({ code: Code.INTERNAL, rawMessage: "protocol error: unexpected settings frame" });
    expect(other.closed).toBe(false);
    expect(client.engine.closed).toBe(false);
    client.engine.close();
  });

  it("rejects a request sent after the half-close, naming the mistake; nothing more is written", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    call.closeSend();
    const written = client.conn.written.length;
    await expect(call.send(new Uint8Array([1]))).rejects.toMatchObject({
      code: Code.INTERNAL,
      rawMessage: "cannot send after the request stream was closed",
    });
    expect(client.conn.written).toHaveLength(written);
    client.engine.close();
  });

  it("leaves no Settings timer behind once the tunnel ends while negotiating", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const client = await clientUnderTest({ settings: "withheld" });
      expect(vi.getTimerCount()).toBe(1);
      client.engine.close();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it("keeps a tunnel whose Settings came in time: the Settings timer stops with them", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const client = await clientUnderTest({ settings: "withheld", limits: { settingsTimeoutMs: 1_000 } });
      vi.advanceTimersByTime(999);
      client.feed(settingsFrame(true));
      await client.engine.ready;
      vi.advanceTimersByTime(10_000);
      expect(client.engine.closed).toBe(false);
      expect(client.open().closed).toBe(false);
      client.engine.close();
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("TunnelClientEngine, negotiating", () => {
  it("names a first frame of no known type 'unknown' when it ends the tunnel for not being Settings", async () => {
    const client = await clientUnderTest({ settings: s2c.empty(0n) });
    expect(client.engine.error).toMatchObject({
      code: Code.INTERNAL,
      rawMessage: "protocol error: first frame was not settings (instead was unknown)",
    });
  });

  it("names every revision either side offered when they share none", async () => {
    const conn = new MemoryConn<ClientToServer>();
    const engine = new TunnelClientEngine(conn, { flowControl: false, expectSettings: true, limits: resolveLimits(undefined) });
    engine.receive(s2c.settings(-1n, [1, 7]));
    expect(engine.error).toMatchObject({
      code: Code.INTERNAL,
      rawMessage: "protocol error: server supports revisions [1, 7], client supports [0]",
    });
  });
});
