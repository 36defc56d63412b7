// A sender facing a window that never grows and credit returned chunk by
// chunk (the Go reference's receiver) must not split the window into ever
// smaller chunks (the silly window syndrome): a Go client streaming 64 KiB
// messages from this runtime's server got ~16 chunks of a few bytes per
// message, each a round trip. The peer here is played with raw frames, so
// the chunking is exact and does not depend on timing.
import { describe, expect, it } from "vitest";
import { SendWindow } from "../src/protocol/flow-control.js";
import type { ServerToClient } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { SERVER_STREAM, serverUnderTest, testMessage } from "./conformance/harness.js";
import { c2s } from "./support/frames.js";

const KiB = 1024;

/** The data chunks of `frames`, grouped by message (an envelope starts one). */
function chunksPerMessage(frames: readonly ServerToClient[]): number[][] {
  const messages: number[][] = [];
  for (const { frame } of frames) {
    if (frame.case === "responseMessage") messages.push([frame.value.data.length]);
    else if (frame.case === "moreResponseData") messages.at(-1)!.push(frame.value.length);
  }
  return messages;
}

const dataLength = ({ frame }: ServerToClient) =>
  frame.case === "responseMessage" ? frame.value.data.length : frame.case === "moreResponseData" ? frame.value.length : 0;

describe("the send window's floor (no silly window)", () => {
  it.each([
    ["64 KiB", 64 * KiB], // 65,540 bytes on the wire: each message overruns the 64 KiB window by 4 bytes
    ["40 KiB", 40 * KiB],
    ["1 MiB", 1024 * KiB],
  ])(
    "streaming %s messages to a Go-like peer (fixed 64 KiB window, one update per chunk read, each in its own turn): no chunk below 16 KiB except a message's last",
    async (_, payload) => {
      // The server's own receive window fits the request (as large as a response); its send window is the peer's 64 KiB.
      const server = serverUnderTest({ limits: { receiveWindowBytes: 2048 * KiB } });
      const messages = 24;
      server.send(c2s.newStream(1n, SERVER_STREAM));
      const request = testMessage({ payload: new Uint8Array(payload).fill(7), count: messages });
      server.send(c2s.message(1n, request.length, request), c2s.halfClose(1n));

      // The peer reads each chunk as it arrives and returns its credit in a
      // turn of its own, as Go's receiver does (one window_update per chunk).
      let credited = 0;

      const done = server.closeOf(1n);
      let finished = false;
      void done.then(() => (finished = true));
      while (!finished) {
        const frames = server.framesOf(1n);
        if (credited < frames.length) {
          const credit = dataLength(frames[credited++]!);
          if (credit > 0) {
            server.send(c2s.windowUpdate(1n, credit));
          }
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect((await done).status).toBeUndefined();

      const chunks = chunksPerMessage(server.framesOf(1n));
      expect(chunks).toHaveLength(messages);
      for (const message of chunks) {
        expect(message.reduce((a, b) => a + b, 0)).toBe(testMessage({ payload: new Uint8Array(payload) }).length);
        for (const chunk of message.slice(0, -1)) expect(chunk).toBeGreaterThanOrEqual(16 * KiB);
      }
      // Every chunk is a round trip's worth of credit: about one per 64 KiB window plus one per message end.
      const total = chunks.flat().length;
      expect(total).toBeLessThanOrEqual(messages * (Math.ceil((payload + 8) / (64 * KiB)) + 1));
    },
  );

  it("a message's last bytes go as soon as they fit, however few: waiting is only for chunks that leave more to send", () => {
    const window = new SendWindow(64 * KiB);
    window.take(64 * KiB - 4);
    expect(window.tooSmallFor(4)).toBe(false); // the end of a message fits: sent
    expect(window.tooSmallFor(5)).toBe(true); // 4 bytes of 5: wait for more credit
    window.take(4);
    expect(window.tooSmallFor(1)).toBe(true); // closed
    expect(window.grant(16 * KiB - 1)).toBe(true);
    expect(window.tooSmallFor(64 * KiB)).toBe(true); // under a quarter of the window, more to send: wait
    expect(window.grant(1)).toBe(true);
    expect(window.tooSmallFor(64 * KiB)).toBe(false); // a quarter: worth a chunk
    expect(window.tooSmallFor(0)).toBe(false); // an empty message never waits
  });

  it("the floor is a quarter of the largest window seen: a grown window waits for larger credit, a tiny one for any", () => {
    const grown = new SendWindow(64 * KiB);
    grown.grant(192 * KiB); // the peer grew its window to 256 KiB
    grown.take(256 * KiB - 63 * KiB);
    expect(grown.tooSmallFor(1024 * KiB)).toBe(true); // 63 KiB < 64 KiB
    const tiny = new SendWindow(3);
    expect(tiny.tooSmallFor(10)).toBe(false); // a window of 3 bytes: any credit is worth a chunk
    tiny.take(3);
    expect(tiny.tooSmallFor(10)).toBe(true);
  });
});
