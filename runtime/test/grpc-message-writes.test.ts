// gRPC messages written behind their prefixes (transport/grpc-message-writes.ts),
// as the tunnel's batched writes and the gateway's front doors write them:
// framing that loses or cuts a message, a copy where the caller may change
// the bytes later, or a prefix that pins a 64 KiB pool slab fails here.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { PREFIX_BYTES, writeGrpcMessages } from "../src/transport/grpc-message-writes.js";

/** A sink that keeps every chunk written to it, as they came. */
function collector(highWaterMark = 64 * 1024) {
  const chunks: Uint8Array[] = [];
  let writes = 0;
  const sink = new Writable({
    highWaterMark,
    writev(batch, done) {
      writes++;
      for (const { chunk } of batch) chunks.push(chunk as Uint8Array);
      done();
    },
    write(chunk: Uint8Array, _encoding, done) {
      writes++;
      chunks.push(chunk);
      done();
    },
  });
  return { sink, chunks, writes: () => writes };
}

/** Parses length-prefixed messages back out of what was written. */
function unframe(chunks: readonly Uint8Array[]): Array<{ flags: number; bytes: Buffer }> {
  const all = Buffer.concat(chunks);
  const out: Array<{ flags: number; bytes: Buffer }> = [];
  for (let pos = 0; pos < all.length; ) {
    const length = all.readUInt32BE(pos + 1);
    out.push({ flags: all[pos]!, bytes: all.subarray(pos + PREFIX_BYTES, pos + PREFIX_BYTES + length) });
    pos += PREFIX_BYTES + length;
  }
  return out;
}

describe("writeGrpcMessages", () => {
  it("frames messages of every size whole and in order, uncompressed, in one write, and calls back once", async () => {
    const { sink, chunks, writes } = collector();
    const sizes = [0, 1, 5, 16 * 1024 - 1, 16 * 1024, 70 * 1024, 3];
    const messages = sizes.map((size, i) => Buffer.alloc(size, i + 1));
    let sent = 0;
    writeGrpcMessages(sink, messages, () => sent++);
    await new Promise((resolve) => sink.end(resolve));
    const parsed = unframe(chunks);
    expect(parsed.map((m) => m.flags)).toEqual(sizes.map(() => 0));
    expect(parsed.map((m) => m.bytes.length)).toEqual(sizes);
    expect(parsed.every((m, i) => m.bytes.equals(messages[i]!))).toBe(true);
    expect(writes()).toBe(1); // corked: one writev
    expect(sent).toBe(1);
  });

  it("writes a large message that owns its buffer as it is, and copies small ones and views of larger buffers", async () => {
    const { sink, chunks } = collector();
    const large = new Uint8Array(64 * 1024).fill(1);
    const small = new Uint8Array(100).fill(2);
    const big = new Uint8Array(256 * 1024).fill(3);
    const view = big.subarray(1000, 41_000); // 40 KB of a 256 KiB buffer: must not pin all of it
    writeGrpcMessages(sink, [small, large, view]);
    small.fill(9);
    big.fill(9);
    await new Promise((resolve) => sink.end(resolve));
    expect(chunks.some((chunk) => chunk.buffer === large.buffer)).toBe(true); // Writable wraps it in a Buffer: same memory
    expect(chunks.some((chunk) => chunk.buffer === big.buffer)).toBe(false);
    const parsed = unframe(chunks);
    expect(parsed.map((m) => m.bytes.length)).toEqual([100, 64 * 1024, 40_000]);
    expect(parsed[0]!.bytes.every((b) => b === 2)).toBe(true);
    expect(parsed[2]!.bytes.every((b) => b === 3)).toBe(true);
  });

  it("keeps prefixes and copies in a buffer of their own, not a slab of Node's pool", async () => {
    const { sink, chunks } = collector();
    writeGrpcMessages(sink, [new Uint8Array(10), new Uint8Array(20)]);
    await new Promise((resolve) => sink.end(resolve));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.buffer.byteLength).toBe(2 * PREFIX_BYTES + 30);
  });

  it("says whether the sink wants a drain: past its high-water mark, not below", async () => {
    const { sink } = collector(1024);
    sink.cork(); // hold what is written, so the buffer fills
    expect(writeGrpcMessages(sink, [new Uint8Array(500)])).toBe(true);
    expect(writeGrpcMessages(sink, [new Uint8Array(600)])).toBe(false);
    const drained = new Promise((resolve) => sink.once("drain", resolve));
    sink.uncork();
    await drained;
  });
});
