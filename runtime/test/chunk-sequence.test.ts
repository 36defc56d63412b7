// The chunk rules of one direction of a stream (protocol.md, "Message
// chunking"): an envelope starts a message of its declared size,
// continuations fill it, nothing may overrun or interrupt it. The texts are
// the reference's (they reach the peer in the status).
import { describe, expect, it } from "vitest";
import { ChunkSequence, nextChunkLength } from "../src/protocol/chunking.js";

describe("ChunkSequence", () => {
  it("a message in several chunks: mid-message until its last byte, completed once", () => {
    const sequence = new ChunkSequence();
    expect(sequence.midMessage).toBe(false);
    expect(sequence.envelope(5, 2, "request")).toBeUndefined();
    expect(sequence.completed()).toBe(false);
    expect(sequence.midMessage).toBe(true);
    expect(sequence.more(2, "request")).toBeUndefined();
    expect(sequence.completed()).toBe(false);
    expect(sequence.more(1, "request")).toBeUndefined();
    expect(sequence.midMessage).toBe(false); // its last byte is in
    expect(sequence.completed()).toBe(true);
    expect(sequence.completed()).toBe(false); // once
    expect(sequence.midMessage).toBe(false);
  });

  it("a message whose envelope holds all of it (or an empty one) is complete at once", () => {
    const sequence = new ChunkSequence();
    expect(sequence.envelope(3, 3, "request")).toBeUndefined();
    expect(sequence.midMessage).toBe(false);
    expect(sequence.completed()).toBe(true);
    expect(sequence.envelope(0, 0, "request")).toBeUndefined();
    expect(sequence.midMessage).toBe(false);
    expect(sequence.completed()).toBe(true);
  });

  it("a finished message may be followed by a new envelope, also before completed() is asked", () => {
    const sequence = new ChunkSequence();
    expect(sequence.envelope(2, 2, "response")).toBeUndefined();
    expect(sequence.envelope(4, 1, "response")).toBeUndefined();
    expect(sequence.midMessage).toBe(true);
  });

  it("refuses an envelope that interrupts a message, saying how many bytes are missing", () => {
    const sequence = new ChunkSequence();
    sequence.envelope(10, 4, "request");
    expect(sequence.envelope(3, 3, "request")).toBe("received request message envelope before previous message finished (6 bytes missing)");
  });

  it("refuses more data than the envelope declared, in the envelope or in a continuation", () => {
    expect(new ChunkSequence().envelope(2, 3, "request")).toBe("received more request data than indicated by message envelope");
    const sequence = new ChunkSequence();
    sequence.envelope(4, 1, "response");
    expect(sequence.more(4, "response")).toBe("received more response data than indicated by message envelope");
    expect(sequence.more(3, "response")).toBeUndefined(); // exactly what was missing
    // Its last byte is in: one more overruns it (until completed() closes it).
    expect(sequence.more(1, "response")).toBe("received more response data than indicated by message envelope");
    expect(sequence.more(0, "response")).toBeUndefined();
  });

  it("refuses a continuation with no message started, before any and after one completed", () => {
    const sequence = new ChunkSequence();
    expect(sequence.more(1, "request")).toBe("never received envelope for request message");
    sequence.envelope(2, 2, "request");
    expect(sequence.completed()).toBe(true);
    expect(sequence.more(1, "request")).toBe("never received envelope for request message");
  });
});

describe("nextChunkLength", () => {
  it("is the least of the chunk limit, the bytes left and the window", () => {
    expect(nextChunkLength(16, 100)).toBe(16);
    expect(nextChunkLength(16, 5)).toBe(5);
    expect(nextChunkLength(16, 100, 7)).toBe(7);
    expect(nextChunkLength(16, 100, 0)).toBe(0);
  });
});
