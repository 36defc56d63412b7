// A message that waits for the peer's window: one that fits a chunk waits
// for room to go whole (up to exactly maxChunkBytes), and what waited is
// counted as sent once it went.
import { describe, expect, it } from "vitest";
import type { ClientToServer } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { clientUnderTest } from "./conformance/harness.js";
import { s2c } from "./support/frames.js";

/** The request data frames written, as [kind, bytes]. */
function dataFrames(written: ClientToServer[]): Array<[string, number]> {
  return written.flatMap((f): Array<[string, number]> => {
    if (f.frame.case === "requestMessage") return [["message", f.frame.value.data.length]];
    if (f.frame.case === "moreRequestData") return [["more", f.frame.value.length]];
    return [];
  });
}

describe("sending into a grown window", () => {
  it("a message of exactly maxChunkBytes waits for room to go whole, and counts as sent once it went", async () => {
    const client = await clientUnderTest({ limits: { maxChunkBytes: 1000 }, settings: s2c.settings(-1n, [1], 1000) });
    const call = client.open();
    await call.send(new Uint8Array(1000)); // the whole window
    client.feed(s2c.windowUpdate(call.id, 2000)); // the peer grew it: 2,000 open
    await call.send(new Uint8Array(1000));
    await call.send(new Uint8Array(500)); // 500 open
    const whole = call.send(new Uint8Array(1000));
    await Promise.resolve();
    expect(dataFrames(client.conn.written)).toEqual([
      ["message", 1000],
      ["message", 1000],
      ["message", 500],
    ]);
    expect(call.bytesSent).toBe(2500);
    client.feed(s2c.windowUpdate(call.id, 500));
    await whole;
    expect(dataFrames(client.conn.written).at(-1)).toEqual(["message", 1000]);
    expect(call.bytesSent).toBe(3500);
    expect(client.engine.info.bytesSent).toBe(3500);
    client.engine.close();
  });

  it("a message split at the window's edge counts each part once it went", async () => {
    const client = await clientUnderTest({ settings: s2c.settings(-1n, [1], 8) });
    const call = client.open();
    const split = call.send(new Uint8Array(20));
    await Promise.resolve();
    expect(call.bytesSent).toBe(8);
    client.feed(s2c.windowUpdate(call.id, 100));
    await split;
    expect(dataFrames(client.conn.written)).toEqual([
      ["message", 8],
      ["more", 12],
    ]);
    expect(call.bytesSent).toBe(20);
    client.engine.close();
  });
});

describe("the rest of a message", () => {
  it("goes as soon as the window holds all of it, however small the window is then", async () => {
    const client = await clientUnderTest({ settings: s2c.settings(-1n, [1], 100) });
    const call = client.open();
    const sending = call.send(new Uint8Array(110));
    client.feed(s2c.windowUpdate(call.id, 10)); // under a quarter of the window, but all that is left
    await sending;
    expect(dataFrames(client.conn.written)).toEqual([
      ["message", 100],
      ["more", 10],
    ]);
    client.engine.close();
  });

  it("without flow control (revision 0), a message split by maxChunkBytes counts its bytes once", async () => {
    const client = await clientUnderTest({ settings: null, limits: { maxChunkBytes: 1000 } });
    const call = client.open();
    await call.send(new Uint8Array(2500));
    expect(dataFrames(client.conn.written)).toEqual([
      ["message", 1000],
      ["more", 1000],
      ["more", 500],
    ]);
    expect(call.bytesSent).toBe(2500);
    client.engine.close();
  });
});
