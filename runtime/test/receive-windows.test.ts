// Receive windows as the peer sees them: the credit each end returns for
// what its reader took, growth only for a reader that keeps up, and no
// credit once the peer ended its side.
import { describe, expect, it } from "vitest";
import { Code } from "../src/index.js";
import { ProtocolRevision, type ServerToClient } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { clientUnderTest } from "./conformance/harness.js";
import { c2s, s2c } from "./support/frames.js";
import { serverWithHeldCalls } from "./support/held-calls.js";

describe("receive windows once the peer ended its side", () => {
  const big = new Uint8Array(40_000); // over half of a 64 KiB window: reading it returns credit

  it("the server returns credit for what it reads while the client may still send, and none after its half-close", async () => {
    const { open, engine, kinds } = serverWithHeldCalls();
    const sending = open(1n);
    engine.receive(c2s.message(1n, big.length, big));
    expect((await sending.read())?.length).toBe(big.length);
    expect(kinds(1n)).toContain("windowUpdate");
    const done = open(3n);
    engine.receive(c2s.message(3n, big.length, big));
    engine.receive(c2s.halfClose(3n));
    expect((await done.read())?.length).toBe(big.length);
    expect(await done.read()).toBeUndefined();
    expect(kinds(3n)).not.toContain("windowUpdate");
  });

  it("a reader that drains what came gets a larger window; one that always has more queued keeps the one advertised", async () => {
    const chunk = new Uint8Array(16 * 1024);
    const credit = (frames: ServerToClient[]) => frames.reduce((sum, f) => sum + (f.frame.case === "windowUpdate" ? f.frame.value : 0), 0);
    const { open, engine, framesOf } = serverWithHeldCalls();
    const slow = open(1n);
    const send = (id: bigint, n: number) => {
      for (let i = 0; i < n; i++) engine.receive(c2s.message(id, chunk.length, chunk));
    };
    send(1n, 4); // a whole 64 KiB window
    for (let round = 0; round < 4; round++) {
      await slow.read();
      await slow.read();
      send(1n, 2); // more arrives before the reader caught up
    }
    expect(credit(framesOf(1n))).toBe(8 * chunk.length); // exactly what was read: no growth

    const fast = open(3n);
    send(3n, 4);
    for (let i = 0; i < 4; i++) await fast.read();
    expect(credit(framesOf(3n))).toBeGreaterThan(4 * chunk.length); // the growth rides on the credit
  });

  it("the client returns none for responses it reads after the server's close", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    client.feed(s2c.message(1n, big.length, big), s2c.close(1n));
    expect((await call.read())?.length).toBe(big.length);
    expect(client.conn.written.some((f) => f.frame.case === "windowUpdate")).toBe(false);
    client.engine.close();
  });
});

describe("bounds on what a stream receives, at their edge", () => {
  it("revision 0: exactly maxBufferedBytesPerStream unread is accepted, one byte more fails the call", async () => {
    const { open, engine, closeOf } = serverWithHeldCalls({ limits: { maxBufferedBytesPerStream: 1024, maxReceiveMessageBytes: 1024 } });
    const stream = open(1n, {}, ProtocolRevision.REVISION_ZERO);
    engine.receive(c2s.message(1n, 1024, new Uint8Array(1024)));
    expect(stream.closed).toBe(false);
    engine.receive(c2s.message(1n, 1, new Uint8Array(1)));
    expect(closeOf(1n).status).toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      message: "more than 1024 unread request bytes buffered for a stream without flow control",
    });
  });

  it("revision 0: the bound counts unread bytes only: a reader that keeps up takes many times it", async () => {
    const { open, engine } = serverWithHeldCalls({ limits: { maxBufferedBytesPerStream: 1024, maxReceiveMessageBytes: 1024 } });
    const stream = open(1n, {}, ProtocolRevision.REVISION_ZERO);
    for (let i = 0; i < 5; i++) {
      engine.receive(c2s.message(1n, 1024, new Uint8Array(1024).fill(i)));
      expect((await stream.read())?.[0]).toBe(i);
    }
    expect(stream.closed).toBe(false);
  });

  it("more data after a whole message is a continuation without an envelope: the call fails saying so", async () => {
    const { open, engine, closeOf } = serverWithHeldCalls();
    const stream = open(1n);
    engine.receive(c2s.message(1n, 2, new Uint8Array(2)));
    expect((await stream.read())?.length).toBe(2);
    engine.receive(c2s.more(1n, new Uint8Array(1)));
    expect(closeOf(1n).status?.message).toMatch(/never received envelope for request message/);
  });

  it("a message of exactly maxReceiveMessageBytes is accepted", async () => {
    const client = await clientUnderTest({ limits: { maxReceiveMessageBytes: 100 } });
    const call = client.open();
    client.feed(s2c.message(1n, 100, new Uint8Array(100)), s2c.close(1n));
    expect((await call.read())?.length).toBe(100);
    expect((await call.done).error).toBeUndefined();
    client.engine.close();
  });
});
