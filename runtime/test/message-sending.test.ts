// How a stream's messages reach the wire (MessageSender under ClientStream
// and ServerStream): whole when they can go whole, each chunk once, and
// every send settling with the call's outcome.
import { describe, expect, it } from "vitest";
import { Code } from "../src/index.js";
import type { ClientToServer } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { clientUnderTest } from "./conformance/harness.js";
import { s2c } from "./support/frames.js";

/** The request data frames written, as [kind, bytes]. */
function dataFrames(written: ClientToServer[]): Array<[string, number]> {
  return written.flatMap(
    (f): Array<[string, number]> =>
      f.frame.case === "requestMessage"
        ? [["message", f.frame.value.data.length]]
        : f.frame.case === "moreRequestData"
          ? [["more", f.frame.value.length]]
          : [],
  );
}

describe("sending messages", () => {
  it("a message sent whole is passed on as it is, not copied", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    const message = new Uint8Array([1, 2, 3]);
    await call.send(message);
    const frame = client.conn.written.find((f) => f.frame.case === "requestMessage");
    expect(frame!.frame.value).toMatchObject({ size: 3 });
    expect((frame!.frame.value as { data: Uint8Array }).data).toBe(message);
    client.engine.close();
  });

  it("a message that waited for the transport still goes as one frame, with nothing after it", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    client.conn.writable = false;
    await call.send(new Uint8Array(10));
    const waiting = call.send(new Uint8Array(20));
    client.conn.drain();
    await waiting;
    await call.send(new Uint8Array(5));
    expect(dataFrames(client.conn.written)).toEqual([
      ["message", 10],
      ["message", 20],
      ["message", 5],
    ]);
    client.engine.close();
  });

  it("every send after the call ended fails with its end, however many", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    client.feed(s2c.close(1n, Code.ABORTED, "over"));
    for (let i = 0; i < 3; i++) {
      await expect(call.send(new Uint8Array(1))).rejects.toMatchObject({ code: Code.ABORTED, rawMessage: "over" });
    }
    client.engine.close();
  });

  it("a message larger than the window goes as far as the window allows, the rest once credit came; the next one whole", async () => {
    const client = await clientUnderTest({ settings: s2c.settings(-1n, [1], 8) });
    const call = client.open();
    const first = call.send(new Uint8Array(20));
    client.feed(s2c.windowUpdate(1n, 8));
    client.feed(s2c.windowUpdate(1n, 100));
    await first;
    await call.send(new Uint8Array(6));
    expect(dataFrames(client.conn.written)).toEqual([
      ["message", 8],
      ["more", 12],
      ["message", 6],
    ]);
    client.engine.close();
  });

  it("maxChunkBytes below the shared chunk size bounds chunks whether the call is alone or not", async () => {
    const client = await clientUnderTest({ limits: { maxChunkBytes: 1000 } });
    const alone = client.open();
    await alone.send(new Uint8Array(2500));
    const beside = client.open();
    await beside.send(new Uint8Array(2500));
    expect(dataFrames(client.conn.written)).toEqual([
      ["message", 1000],
      ["more", 1000],
      ["more", 500],
      ["message", 1000],
      ["more", 1000],
      ["more", 500],
    ]);
    client.engine.close();
  });
});

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
