// Response headers and trailers the tunnel protocol cannot carry (binary
// values that are not UTF-8: the protocol sends metadata as proto strings).
// The handler hears why where it can, and the call still ends, once, with
// a status that says so — never a call left open.
import { describe, expect, it } from "vitest";
import { Code } from "../src/index.js";
import { serverWithHeldCalls } from "./support/held-calls.js";

const NOT_UTF8 = Buffer.from([0xff, 0xfe]);
const CANNOT_SEND = 'metadata "x-raw-bin" holds bytes that are not valid UTF-8';

describe("ServerStream: metadata the protocol cannot carry", () => {
  it("trailers: the call ends INTERNAL saying why, without trailers, once", () => {
    const { open, kinds, closeOf } = serverWithHeldCalls();
    const stream = open(1n);
    stream.responseTrailers.set("x-raw-bin", NOT_UTF8);
    stream.responseTrailers.set("x-fine", "yes");
    stream.close(undefined);
    expect(kinds(1n)).toEqual(["responseHeaders", "closeStream"]);
    expect(closeOf(1n).status).toMatchObject({ code: Code.INTERNAL, message: expect.stringContaining(CANNOT_SEND) });
    expect(closeOf(1n).responseTrailers?.md ?? {}).toEqual({});
    expect(stream.closed).toBe(true);
    stream.close(undefined);
    expect(kinds(1n)).toEqual(["responseHeaders", "closeStream"]);
  });

  it("headers: a send fails with why, sending nothing; the handler's end is then INTERNAL with no headers", async () => {
    const { open, kinds, closeOf } = serverWithHeldCalls();
    const stream = open(1n);
    stream.responseHeaders.set("x-raw-bin", NOT_UTF8);
    await expect(stream.send(new Uint8Array([1]))).rejects.toMatchObject({
      code: Code.INTERNAL,
      rawMessage: expect.stringContaining(CANNOT_SEND),
    });
    expect(() => stream.sendHeaders()).toThrow(CANNOT_SEND);
    expect(kinds(1n)).toEqual([]);
    expect(stream.closed).toBe(false);
    stream.close(undefined);
    expect(kinds(1n)).toEqual(["closeStream"]);
    expect(closeOf(1n).status).toMatchObject({ code: Code.INTERNAL, message: expect.stringContaining(CANNOT_SEND) });
  });
});
