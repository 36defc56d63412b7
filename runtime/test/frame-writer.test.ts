import { describe, expect, it } from "vitest";
import { FrameWriter, type DataSource, type FrameConn, type FrameWriterOptions } from "../src/engine/frame-conn.js";
import { MemoryBudget } from "../src/engine/memory-budget.js";
import { PAUSED_READ_AHEAD_BYTES } from "../src/engine/memory-costs.js";

// FrameWriter's back-pressure: frames go straight to the transport while it
// takes more; while it is full, control frames still go at once and data
// waits, in arrival order across streams; data of a stream that ended
// meanwhile is dropped.
class Source implements DataSource {
  ended = false;
  hasEnded(): boolean {
    return this.ended;
  }
}

/**
 * Records writes; answers "full" while `writable` is false; `drain` signals
 * room. A frame counts as sent once `send` says so (the peer read it).
 */
class TestConn implements FrameConn<string> {
  constructor(readonly pausedReadAheadBytes?: number) {}
  readonly written: string[] = [];
  writable = true;
  paused = false;
  private readonly listeners: Array<() => void> = [];
  private readonly closedListeners: Array<() => void> = [];
  private readonly unsent: Array<() => void> = [];
  write(frame: string, sent: () => void): boolean {
    this.written.push(frame);
    this.unsent.push(sent);
    return this.writable;
  }
  onDrain(listener: () => void): void {
    this.listeners.push(listener);
  }
  onClosed(listener: () => void): void {
    this.closedListeners.push(listener);
  }
  pauseReading(): void {
    this.paused = true;
  }
  resumeReading(): void {
    this.paused = false;
  }
  /** Room again; with `stillFull`, the next write fills the transport again. */
  drain(stillFull = false): void {
    this.writable = !stillFull;
    for (const listener of this.listeners) {
      listener();
    }
  }
  /** The peer read the `n` oldest frames not yet sent. */
  send(n: number): void {
    for (const sent of this.unsent.splice(0, n)) {
      sent();
    }
  }
  /** The tunnel RPC is over. */
  close(): void {
    for (const listener of this.closedListeners) {
      listener();
    }
  }
  end(): void {}
  abort(): void {}
}

/** A writer where each frame holds as many bytes as it has characters. */
function newWriter(conn: TestConn, options: Partial<FrameWriterOptions<string>> = {}): FrameWriter<string> {
  return new FrameWriter(conn, {
    memory: new MemoryBudget("test", Number.POSITIVE_INFINITY),
    frameBytes: (frame) => frame.length,
    pauseReadingAt: Number.POSITIVE_INFINITY,
    ...options,
  });
}

function blockedWriter(): { conn: TestConn; writer: FrameWriter<string> } {
  const conn = new TestConn();
  const writer = newWriter(conn);
  conn.writable = false;
  writer.write("fill"); // the transport answers "full"
  conn.written.length = 0;
  return { conn, writer };
}

describe("FrameWriter", () => {
  it("writes at once, without waiting, while the transport takes more", () => {
    const conn = new TestConn();
    const writer = newWriter(conn);
    writer.write("a");
    expect(writer.writeData("b", new Source())).toBeUndefined();
    expect(conn.written).toEqual(["a", "b"]);
  });

  it("while full, writes control frames at once and queues data until the transport drains", async () => {
    const { conn, writer } = blockedWriter();
    const first = writer.writeData("data-1", new Source());
    writer.write("control-1");
    const second = writer.writeData("data-2", new Source());
    expect(first).toBeInstanceOf(Promise);
    expect(second).toBeInstanceOf(Promise);
    expect(conn.written).toEqual(["control-1"]);
    conn.drain();
    await Promise.all([first, second]);
    expect(conn.written).toEqual(["control-1", "data-1", "data-2"]);
  });

  it("keeps the rest queued when the transport fills up again while draining", async () => {
    const { conn, writer } = blockedWriter();
    const source = new Source();
    const pending = ["d1", "d2", "d3"].map((frame) => writer.writeData(frame, source));
    conn.drain(true); // room for one frame only
    expect(conn.written).toEqual(["d1"]);
    let settled = false;
    void pending[2]!.then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    conn.drain();
    await Promise.all(pending);
    expect(conn.written).toEqual(["d1", "d2", "d3"]);
    // Once drained and empty, writes go straight through again.
    expect(writer.writeData("d4", source)).toBeUndefined();
  });

  it("drops queued data of a stream that ended meanwhile, and releases its sender", async () => {
    const { conn, writer } = blockedWriter();
    const ended = new Source();
    const live = new Source();
    const dropped = writer.writeData("ended-data", ended);
    const kept = writer.writeData("live-data", live);
    ended.ended = true;
    conn.drain();
    await Promise.all([dropped, kept]);
    expect(conn.written).toEqual(["live-data"]);
  });

  it("close() drops queued data and later frames, and releases queued senders", async () => {
    const { conn, writer } = blockedWriter();
    const data = writer.writeData("data", new Source());
    writer.close();
    await data;
    writer.write("late");
    expect(writer.writeData("late-data", new Source())).toBeUndefined();
    expect(conn.written).toEqual([]);
  });
});

describe("FrameWriter: a byte bound on what the transport holds (maxBytesInTransport)", () => {
  it("writes data while the transport holds less than the bound, whatever the frame's size, then queues it until frames were sent", async () => {
    const conn = new TestConn();
    const writer = newWriter(conn, { maxBytesInTransport: 10 });
    const source = new Source();
    expect(writer.writeData("123456789", source)).toBeUndefined(); // 0 held: written
    expect(writer.writeData("a-frame-larger-than-the-bound", source)).toBeUndefined(); // 9 < 10: written
    const third = writer.writeData("third", source);
    const fourth = writer.writeData("fourth", new Source());
    expect(third).toBeInstanceOf(Promise);
    expect(conn.written).toEqual(["123456789", "a-frame-larger-than-the-bound"]);
    let settled = false;
    void third!.then(() => (settled = true));
    conn.send(1); // 29 bytes still held: still over the bound
    await Promise.resolve();
    expect([settled, conn.written.length]).toEqual([false, 2]);
    conn.send(1); // nothing held: the queue moves on, in order, until the bound is reached again
    await Promise.all([third, fourth]);
    expect(conn.written).toEqual(["123456789", "a-frame-larger-than-the-bound", "third", "fourth"]);
    // 11 bytes held now: the next data frame waits again.
    expect(writer.writeData("fifth", source)).toBeInstanceOf(Promise);
  });

  it("control frames go out whatever the transport holds, and count towards the bound", () => {
    const conn = new TestConn();
    const writer = newWriter(conn, { maxBytesInTransport: 10 });
    writer.write("control-frame");
    writer.write("another");
    expect(conn.written).toEqual(["control-frame", "another"]);
    expect(writer.writeData("data", new Source())).toBeInstanceOf(Promise);
  });

  it("a stream that ended while its frame waited for the bound is dropped; close() releases the rest", async () => {
    const conn = new TestConn();
    const writer = newWriter(conn, { maxBytesInTransport: 4 });
    writer.writeData("held", new Source());
    const ended = new Source();
    const dropped = writer.writeData("ended", ended);
    const live = writer.writeData("live", new Source());
    ended.ended = true;
    conn.send(1);
    await Promise.all([dropped, live]);
    expect(conn.written).toEqual(["held", "live"]);
    const queued = writer.writeData("queued", new Source()); // "live" holds 4 bytes
    expect(queued).toBeInstanceOf(Promise);
    writer.close();
    await queued;
    expect(conn.written).toEqual(["held", "live"]);
  });
});

describe("FrameWriter: what the transport holds", () => {
  it("charges each frame to the tunnel's budget until the transport has sent it", () => {
    const conn = new TestConn();
    const memory = new MemoryBudget("test", Number.POSITIVE_INFINITY);
    const writer = newWriter(conn, { memory });
    writer.write("control"); // 7 bytes
    writer.writeData("data-frame", new Source()); // 10 bytes
    expect(memory.used).toBe(17);
    conn.send(1);
    expect(memory.used).toBe(10);
    conn.send(1);
    expect(memory.used).toBe(0);
  });

  it("stops the transport reading while more than pauseReadingAt bytes of control frames wait, and resumes below half", () => {
    const conn = new TestConn();
    const writer = newWriter(conn, { pauseReadingAt: 10 });
    writer.write("aaaa");
    writer.write("bbbb");
    expect(conn.paused).toBe(false); // 8 bytes wait
    writer.write("cccc");
    expect([conn.paused, writer.readingPaused]).toEqual([true, true]); // 12 > 10
    conn.send(1);
    expect(conn.paused).toBe(true); // 8 still wait: more than half
    conn.send(1);
    expect([conn.paused, writer.readingPaused]).toEqual([false, false]); // 4 <= 5
  });

  it("never stops reading for data: windows and waiting senders bound it already", () => {
    const conn = new TestConn();
    const writer = newWriter(conn, { pauseReadingAt: 10 });
    for (let i = 0; i < 10; i++) writer.writeData("0123456789", new Source());
    expect(conn.paused).toBe(false);
  });

  it("releases everything the transport held, once, when the tunnel RPC is over; later send reports change nothing", () => {
    const conn = new TestConn();
    const memory = new MemoryBudget("test", Number.POSITIVE_INFINITY);
    const writer = newWriter(conn, { memory, pauseReadingAt: 4 });
    writer.write("control");
    writer.writeData("data", new Source());
    writer.close();
    conn.close();
    expect(memory.used).toBe(0);
    conn.send(2); // a transport that still reports frames it dropped
    expect(memory.used).toBe(0);
    writer.write("after"); // the writer is closed: not written, not charged
    expect(memory.used).toBe(0);
    expect(conn.written).toEqual(["control", "data"]);
  });

  it("charges what the paused transport still holds for the tunnel (its read-ahead) while reading is paused, and releases it once", () => {
    const conn = new TestConn();
    const memory = new MemoryBudget("test", Number.POSITIVE_INFINITY);
    const writer = newWriter(conn, { memory, pauseReadingAt: 4 });
    writer.write("aaaaa"); // 5 > 4: paused
    expect(memory.used).toBe(5 + PAUSED_READ_AHEAD_BYTES);
    conn.send(1);
    expect([conn.paused, memory.used]).toEqual([false, 0]);
    writer.write("bbbbb");
    expect(memory.used).toBe(5 + PAUSED_READ_AHEAD_BYTES);
    conn.close(); // the tunnel RPC is over while paused
    expect(memory.used).toBe(0);
    writer.write("cccccc"); // no transport to pause any more
    expect(memory.used).toBe(0);
    conn.send(5);
    expect(memory.used).toBe(0);
  });

  it("charges the read-ahead the transport says it holds while paused (a widened HTTP/2 window), not the default", () => {
    const conn = new TestConn(1024 * 1024 + 16 * 1024);
    const memory = new MemoryBudget("test", Number.POSITIVE_INFINITY);
    const writer = newWriter(conn, { memory, pauseReadingAt: 4 });
    writer.write("aaaaa");
    expect([conn.paused, memory.used]).toEqual([true, 5 + 1024 * 1024 + 16 * 1024]);
    conn.send(1);
    expect([conn.paused, memory.used]).toEqual([false, 0]);
    writer.write("bbbbb");
    conn.close();
    expect(memory.used).toBe(0);
  });
});

describe("FrameWriter: the edges of pausing the transport's reads", () => {
  it("pauses only once more than pauseReadingAt bytes of control frames wait, and resumes as soon as at most half of it does", () => {
    const conn = new TestConn();
    const writer = newWriter(conn, { pauseReadingAt: 10 });
    writer.write("aaaaa");
    writer.write("bbbbb");
    expect(conn.paused).toBe(false); // exactly 10 wait: not more than the bound
    writer.write("c");
    expect(conn.paused).toBe(true); // 11
    conn.send(1);
    expect(conn.paused).toBe(true); // 6: more than half
    conn.send(1);
    expect(conn.paused).toBe(false); // 1
    conn.send(1);
    writer.write("dddddd");
    writer.write("eeee");
    writer.write("f"); // 11 wait
    expect(conn.paused).toBe(true);
    conn.send(1); // 5: exactly half
    expect(conn.paused).toBe(false);
  });
});

describe("FrameWriter: data keeps its order", () => {
  it("never overtakes data queued before it, even once the transport, its RPC over, holds nothing", async () => {
    const conn = new TestConn();
    const writer = newWriter(conn, { maxBytesInTransport: 4 });
    writer.writeData("held", new Source());
    const queued = writer.writeData("queued", new Source());
    conn.close(); // the transport held "held"; now it holds nothing
    const later = writer.writeData("later", new Source());
    expect(later).toBeInstanceOf(Promise);
    expect(conn.written).toEqual(["held"]);
    writer.close();
    await Promise.all([queued, later]);
  });
});
