import { afterEach, describe, expect, it, vi } from "vitest";
import { MessageAssembler } from "../src/protocol/message-assembler.js";

afterEach(() => vi.restoreAllMocks());

describe("MessageAssembler", () => {
  it("allocates nothing for the size a peer declares; one buffer of the exact size once half of it is in", () => {
    const allocate = vi.spyOn(Buffer, "allocUnsafeSlow");
    const assembler = new MessageAssembler();
    expect(assembler.start(4 * 1024 * 1024, new Uint8Array([1]))).toBeUndefined();
    expect(allocate).not.toHaveBeenCalled();

    const small = new MessageAssembler();
    expect(small.start(5, new Uint8Array([1, 2]))).toBeUndefined();
    expect(allocate).not.toHaveBeenCalled(); // 2 of 5 bytes
    expect(small.append(new Uint8Array([3]))).toBeUndefined();
    expect(allocate).toHaveBeenCalledTimes(1); // 3 of 5: the buffer, never more than twice what arrived
    const message = small.append(new Uint8Array([4, 5]));
    expect(message).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
    expect(allocate).toHaveBeenCalledTimes(1);
    expect(allocate).toHaveBeenCalledWith(5);
  });

  it("copies small chunks out of the larger buffers they view, so a half-assembled message keeps no buffer alive", () => {
    const assembler = new MessageAssembler();
    const slab = new Uint8Array(8192);
    slab[10] = 7;
    const own = new Uint8Array(16_384).fill(1);
    expect(assembler.start(100_000, slab.subarray(10, 11))).toBeUndefined();
    expect(assembler.append(own)).toBeUndefined();
    const kept = (assembler as unknown as { chunks: Uint8Array[] }).chunks;
    expect(kept[0]?.buffer.byteLength).toBe(1);
    expect(kept[0]?.[0]).toBe(7);
    expect(kept[1]).toBe(own); // a chunk with a buffer of its own is kept as it is
  });

  it("returns a message that arrives in one chunk as it is, allocating nothing", () => {
    const allocate = vi.spyOn(Buffer, "allocUnsafeSlow");
    const whole = new Uint8Array([1, 2, 3]);
    const assembler = new MessageAssembler();
    expect(assembler.start(3, whole)).toBe(whole);
    expect(allocate).not.toHaveBeenCalled();
    // Nothing is being assembled: a stray continuation is ignored.
    expect(assembler.append(new Uint8Array([4]))).toBeUndefined();
  });

  it("ignores continuation chunks when no message is being assembled", () => {
    expect(new MessageAssembler().append(new Uint8Array([1, 2]))).toBeUndefined();

    const assembler = new MessageAssembler();
    expect(assembler.start(2, new Uint8Array([1]))).toBeUndefined();
    expect(assembler.append(new Uint8Array([2]))).toEqual(new Uint8Array([1, 2]));
    expect(assembler.allocated).toBe(false); // the finished message's buffer is handed over
    expect(assembler.append(new Uint8Array([3]))).toBeUndefined();
  });

  it("allocates the message's buffer once exactly half of it is in, not before", () => {
    const assembler = new MessageAssembler();
    expect(assembler.start(6, new Uint8Array([1, 2]))).toBeUndefined();
    expect(assembler.allocated).toBe(false); // 2 of 6
    expect(assembler.append(new Uint8Array([3]))).toBeUndefined();
    expect(assembler.allocated).toBe(true); // 3 of 6
    expect(assembler.append(new Uint8Array([4, 5]))).toBeUndefined();
    expect(assembler.append(new Uint8Array([6]))).toEqual(new Uint8Array([1, 2, 3, 4, 5, 6]));
    expect(assembler.allocated).toBe(false);
  });

  it("keeps a chunk that views half of its buffer or more as it is (a copy would save less than it costs)", () => {
    const assembler = new MessageAssembler();
    const slab = new Uint8Array(8);
    const half = slab.subarray(0, 4);
    expect(assembler.start(100, half)).toBeUndefined();
    const kept = (assembler as unknown as { chunks: Uint8Array[] }).chunks;
    expect(kept[0]).toBe(half);
  });
});
