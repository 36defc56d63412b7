import { describe, expect, it } from "vitest";
import { FrameWriter, type DataSource, type FrameConn } from "../src/engine/frame-conn.js";

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

/** Records writes; answers "full" while `writable` is false; `drain` signals room. */
class TestConn implements FrameConn<string> {
  readonly written: string[] = [];
  writable = true;
  private readonly listeners: Array<() => void> = [];
  write(frame: string): boolean {
    this.written.push(frame);
    return this.writable;
  }
  onDrain(listener: () => void): void {
    this.listeners.push(listener);
  }
  /** Room again; with `stillFull`, the next write fills the transport again. */
  drain(stillFull = false): void {
    this.writable = !stillFull;
    for (const listener of this.listeners) {
      listener();
    }
  }
  end(): void {}
  abort(): void {}
}

function blockedWriter(): { conn: TestConn; writer: FrameWriter<string> } {
  const conn = new TestConn();
  const writer = new FrameWriter(conn);
  conn.writable = false;
  writer.write("fill"); // the transport answers "full"
  conn.written.length = 0;
  return { conn, writer };
}

describe("FrameWriter", () => {
  it("writes at once, without waiting, while the transport takes more", () => {
    const conn = new TestConn();
    const writer = new FrameWriter(conn);
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
