// A stream's receive queue failing while its reader is taking from it:
// returning flow-control credit writes a frame, and a transport whose
// write fails at once ends the tunnel — and fails the queue — right then.
import { describe, expect, it } from "vitest";
import { Code } from "../src/code.js";
import { TunnelError } from "../src/errors.js";
import { MemoryBudget, StreamMemory } from "../src/engine/memory-budget.js";
import { MessageQueue } from "../src/engine/message-queue.js";
import { ReceiveWindow } from "../src/protocol/flow-control.js";

const WINDOW = 64 * 1024;

/** A queue whose returned credit fails it, as a write that ends the tunnel would. */
function queueFailingOnCredit(reason: TunnelError): MessageQueue {
  let queue: MessageQueue | undefined;
  const window = new ReceiveWindow(WINDOW, WINDOW, { sendCredit: () => queue?.fail(reason) });
  queue = new MessageQueue({
    what: "request",
    violationCode: Code.INVALID_ARGUMENT,
    window,
    maxMessageBytes: 1 << 20,
    maxBufferedBytes: 1 << 20,
    memory: new StreamMemory(new MemoryBudget("test", Number.POSITIVE_INFINITY)),
  });
  return queue;
}

describe("MessageQueue failing as its reader returns credit", () => {
  it("the reader gets the failure, not the rest of the message nor a violation the peer never made", async () => {
    const broke = new TunnelError(Code.UNAVAILABLE, "tunnel failed: transport broke");
    const queue = queueFailingOnCredit(broke);
    // One message in two chunks; taking the first (over half the window) returns credit.
    expect(queue.envelope(50_000, new Uint8Array(40_000))).toBeUndefined();
    expect(queue.more(new Uint8Array(10_000))).toBeUndefined();
    await expect(queue.read()).rejects.toBe(broke);
    await expect(queue.read()).rejects.toBe(broke);
  });

  it("a reader already waiting gets the failure too", async () => {
    const broke = new TunnelError(Code.UNAVAILABLE, "tunnel failed: transport broke");
    const queue = queueFailingOnCredit(broke);
    const read = queue.read();
    queue.envelope(50_000, new Uint8Array(40_000));
    queue.more(new Uint8Array(10_000));
    await expect(read).rejects.toBe(broke);
  });
});
