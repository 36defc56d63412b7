// When the tunnel client's engine refuses to start a call, and which
// protocol revision it reports: a call is never started on a tunnel that
// cannot carry it, and the refusal says why.
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { settingsFrame } from "../src/protocol/negotiation.js";
import { clientUnderTest } from "./conformance/harness.js";

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
