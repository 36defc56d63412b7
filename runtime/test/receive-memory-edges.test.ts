// What a stream's receive queue charges at the edges of its two rules: a
// chunk is "small" (charged as a view of a shared slab) only below half of
// its buffer, and a message in several chunks has its assembly buffer
// charged once, with the chunk that brings it to half.
import { describe, expect, it } from "vitest";
import { Code } from "../src/code.js";
import { MemoryBudget, StreamMemory } from "../src/engine/memory-budget.js";
import { CHUNK_BYTES } from "../src/engine/memory-costs.js";
import { MessageQueue } from "../src/engine/message-queue.js";

function queue() {
  const memory = new StreamMemory(new MemoryBudget("test", Number.POSITIVE_INFINITY));
  const q = new MessageQueue({
    what: "request",
    violationCode: Code.INVALID_ARGUMENT,
    window: undefined,
    maxMessageBytes: 1 << 20,
    maxBufferedBytes: 1 << 20,
    memory,
  });
  return { q, memory };
}

describe("MessageQueue memory at the edges", () => {
  it("chunks that each view half of one buffer are charged that whole buffer each, not as a shared slab", async () => {
    const { q, memory } = queue();
    const buffer = new Uint8Array(8);
    expect(q.envelope(4, buffer.subarray(0, 4))).toBeUndefined();
    expect(q.envelope(4, buffer.subarray(4, 8))).toBeUndefined();
    expect(memory.bytes).toBe(2 * (CHUNK_BYTES + 8));
    await q.read();
    expect(memory.bytes).toBe(CHUNK_BYTES + 8);
    await q.read();
    expect(memory.bytes).toBe(0);
  });

  it("a message of four quarters: its assembly buffer is charged once, with the second quarter", async () => {
    const { q, memory } = queue();
    const quarter = () => new Uint8Array(2);
    expect(q.envelope(8, quarter())).toBeUndefined();
    expect(memory.bytes).toBe(CHUNK_BYTES + 2);
    expect(q.more(quarter())).toBeUndefined();
    expect(memory.bytes).toBe(2 * (CHUNK_BYTES + 2) + 4); // half in: the other half of the buffer too
    expect(q.more(quarter())).toBeUndefined();
    expect(memory.bytes).toBe(3 * (CHUNK_BYTES + 2) + 4);
    expect(q.more(quarter())).toBeUndefined();
    expect(memory.bytes).toBe(4 * (CHUNK_BYTES + 2) + 4);
    expect((await q.read())?.length).toBe(8);
    expect(memory.bytes).toBe(0);
  });
});
