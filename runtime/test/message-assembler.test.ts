import { afterEach, describe, expect, it, vi } from "vitest";
import { MessageAssembler } from "../src/protocol/message-assembler.js";

afterEach(() => vi.restoreAllMocks());

describe("MessageAssembler", () => {
  it("allocates nothing for the size a peer declares; one buffer of the exact size once all bytes are in", () => {
    const allocate = vi.spyOn(Buffer, "allocUnsafeSlow");
    const assembler = new MessageAssembler();
    expect(assembler.start(4 * 1024 * 1024, new Uint8Array([1]))).toBeUndefined();
    expect(allocate).not.toHaveBeenCalled();

    const small = new MessageAssembler();
    expect(small.start(5, new Uint8Array([1, 2]))).toBeUndefined();
    expect(small.append(new Uint8Array([3]))).toBeUndefined();
    const message = small.append(new Uint8Array([4, 5]));
    expect(message).toEqual(new Uint8Array([1, 2, 3, 4, 5]));
    expect(allocate).toHaveBeenCalledTimes(1);
    expect(allocate).toHaveBeenCalledWith(5);
  });
});
