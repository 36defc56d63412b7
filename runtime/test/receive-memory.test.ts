// Memory on the receive path: queued chunks hold only their own bytes, and
// every charge goes back when the memory is let go.
import { afterEach, describe, expect, it, vi } from "vitest";
import { Code } from "../src/code.js";
import { MemoryBudget, StreamMemory } from "../src/engine/memory-budget.js";
import { CHUNK_BYTES } from "../src/engine/memory-costs.js";
import { MessageQueue } from "../src/engine/message-queue.js";
import { CLIENT_STREAM, clientUnderTest, SERVER_STREAM, serverUnderTest, testMessage, UNARY } from "./conformance/harness.js";
import { c2s, s2c } from "./support/frames.js";

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function queue(budget = new MemoryBudget("test", Number.POSITIVE_INFINITY)) {
  const memory = new StreamMemory(budget);
  const q = new MessageQueue({
    what: "request",
    violationCode: Code.INVALID_ARGUMENT,
    window: undefined,
    maxMessageBytes: 1 << 20,
    maxBufferedBytes: 1 << 20,
    memory,
  });
  return { q, memory, budget };
}

describe("MessageQueue memory", () => {
  it("charges a pool slab that small chunks view once, until the last of them is read; a small chunk of another slab, its whole slab", async () => {
    const { q, memory } = queue();
    const slab = new Uint8Array(8192); // as grpc-js's pool slabs
    slab.set([1, 2, 3], 100);
    slab.set([4, 5], 200);
    const other = new Uint8Array(8192);
    expect(q.envelope(3, slab.subarray(100, 103))).toBeUndefined();
    expect(memory.bytes).toBe(8192 + CHUNK_BYTES); // the slab, with its first chunk
    expect(q.envelope(2, slab.subarray(200, 202))).toBeUndefined();
    expect(memory.bytes).toBe(8192 + 2 * CHUNK_BYTES + 2); // the slab is held already: its own bytes only
    expect(q.envelope(1, other.subarray(0, 1))).toBeUndefined();
    expect(memory.bytes).toBe(2 * 8192 + 3 * CHUNK_BYTES + 2); // another slab, kept alive by this chunk
    const first = await q.read();
    expect(first).toEqual(new Uint8Array([1, 2, 3]));
    expect(first?.buffer).toBe(slab.buffer); // never copied
    expect(memory.bytes).toBe(2 * 8192 + 2 * CHUNK_BYTES - 1); // the slab stays charged: a chunk still views it
    expect(await q.read()).toEqual(new Uint8Array([4, 5]));
    expect(memory.bytes).toBe(8192 + CHUNK_BYTES);
    expect(await q.read()).toEqual(new Uint8Array([0]));
    expect(memory.bytes).toBe(0);
  });

  it("keeps a chunk that fills most of its buffer as it is, charging the whole buffer", async () => {
    const { q, memory } = queue();
    const frame = new Uint8Array(16_400);
    const data = frame.subarray(16, 16_400);
    expect(q.envelope(data.length, data)).toBeUndefined();
    expect(memory.bytes).toBe(16_400 + CHUNK_BYTES);
    expect(await q.read()).toBe(data);
    expect(memory.bytes).toBe(0);
  });

  it("keeps the chunks of a message charged until the whole message is read, and its buffer once half of it is in", async () => {
    const { q, memory } = queue();
    q.envelope(100, new Uint8Array(10));
    const reading = q.read();
    await Promise.resolve();
    expect(memory.bytes).toBe(10 + CHUNK_BYTES); // taken by the reader, still held
    q.more(new Uint8Array(40));
    // Half is in: the reader's assembler now holds a buffer of all 100 bytes.
    expect(memory.bytes).toBe(10 + CHUNK_BYTES + 40 + CHUNK_BYTES + 50);
    q.more(new Uint8Array(50));
    expect((await reading)?.length).toBe(100);
    expect(memory.bytes).toBe(0);
  });

  it("a chunk the budget refuses fails the stream with RESOURCE_EXHAUSTED", () => {
    const { q, memory } = queue(new MemoryBudget("maxTunnelMemoryBytes", 1_000));
    expect(q.envelope(800, new Uint8Array(800))?.code).toBe(Code.RESOURCE_EXHAUSTED); // 800 + CHUNK_BYTES > 1,000
    expect(memory.bytes).toBe(0);
  });
});

describe("engines release every charge", () => {
  it("tunnel server: after calls of every kind, failed and cancelled ones included, the tunnel holds nothing", async () => {
    const server = serverUnderTest({ flowControl: true });
    const request = testMessage({ payload: new Uint8Array(40_000) });
    let id = 0n;
    for (let i = 0; i < 20; i++) {
      id++;
      server.send(c2s.newStream(id, UNARY), c2s.message(id, request.length, request.subarray(0, 16_384)));
      server.send(c2s.more(id, request.subarray(16_384, 32_768)), c2s.more(id, request.subarray(32_768)), c2s.halfClose(id));
      id++;
      server.send(c2s.newStream(id, CLIENT_STREAM, 0), c2s.message(id, 3, new Uint8Array([1, 2, 3])), c2s.cancel(id));
      id++;
      server.send(c2s.newStream(id, SERVER_STREAM), c2s.more(id, new Uint8Array([1]))); // a violation
    }
    for (let closed = 1n; closed <= id; closed++) await server.closeOf(closed);
    expect(server.engine.activeStreams).toBe(0);
    await new Promise((resolve) => setImmediate(resolve)); // frames count as sent a microtask after writing
    expect(server.engine.memory.used).toBe(0);
  });

  it("tunnel client: after calls that completed, failed and were cancelled, the tunnel holds nothing", async () => {
    const client = await clientUnderTest();
    const ok = client.open(SERVER_STREAM);
    client.feed(s2c.headers(1n, { "x-a": "b" }), s2c.message(1n, 3, new Uint8Array([1, 2, 3])), s2c.close(1n));
    const cancelled = client.open();
    cancelled.cancel();
    const failed = client.open();
    client.feed(s2c.more(3n, new Uint8Array([1])));
    expect(await ok.read()).toEqual(new Uint8Array([1, 2, 3]));
    await Promise.all([ok.done, cancelled.done, failed.done]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(client.engine.memory.used).toBe(0);
  });
});

// At the edges of its two rules: a chunk is "small" (charged as a view of a
// shared slab) only below half of its buffer, and a message in several
// chunks has its assembly buffer charged once, with the chunk that brings
// it to half.
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
