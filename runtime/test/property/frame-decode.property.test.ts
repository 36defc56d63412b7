import fc from "fast-check";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ClientToServerSchema, ServerToClientSchema } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { decodeClientToServer, decodeServerToClient } from "../../src/protocol/frame-codec.js";
import { requestFrames, responseFrames, clientFrames, serverFrames } from "../../src/protocol/frames.js";
import { c2s, s2c } from "../support/frames.js";
import { fuzzParameters } from "./fuzz-config.js";

// The hand-written decoder of data frames and window updates must give what
// fromBinary gives, and leave every other input to it (same result, same
// errors). The runtime's literal frames must equal protobuf-es create().
const idArb = fc.oneof(fc.bigInt({ min: -2n, max: 300n }), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }));
const sizeArb = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 0xffff_ffff }));
// Mostly short data (deep equality of 16 KiB arrays is slow), some full chunks.
const dataArb = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 200 }), weight: 20 },
  { arbitrary: fc.uint8Array({ minLength: 16_000, maxLength: 16_384 }), weight: 1 },
);
const kindArb = fc.constantFrom("envelope", "more", "window") as fc.Arbitrary<"envelope" | "more" | "window">;

/** fromBinary's outcome: the frame, or the error message. */
function reference<T>(decode: () => T): T | { error: string } {
  try {
    return decode();
  } catch (e) {
    return { error: (e as Error).message };
  }
}

describe("property: fast frame decoding equals protobuf-es", () => {
  it("ClientToServer data frames and window updates", () => {
    fc.assert(
      fc.property(idArb, sizeArb, dataArb, kindArb, (id, size, data, kind) => {
        const frame = kind === "envelope" ? c2s.message(id, size, data) : kind === "more" ? c2s.more(id, data) : c2s.windowUpdate(id, size);
        const bytes = toBinary(ClientToServerSchema, frame);
        expect(decodeClientToServer(bytes)).toEqual(fromBinary(ClientToServerSchema, bytes));
      }),
      fuzzParameters(500),
    );
  });

  it("ServerToClient data frames and window updates", () => {
    fc.assert(
      fc.property(idArb, sizeArb, dataArb, kindArb, (id, size, data, kind) => {
        const frame = kind === "envelope" ? s2c.message(id, size, data) : kind === "more" ? s2c.more(id, data) : s2c.windowUpdate(id, size);
        const bytes = toBinary(ServerToClientSchema, frame);
        expect(decodeServerToClient(bytes)).toEqual(fromBinary(ServerToClientSchema, bytes));
      }),
      fuzzParameters(500),
    );
  });

  it("arbitrary bytes decode (or fail) exactly as with fromBinary", () => {
    // Mostly near-valid frames: a valid prefix with random bytes after it.
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc
        .tuple(idArb, fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 12 }))
        .map(([id, data, tail]) => Uint8Array.from([...toBinary(ClientToServerSchema, c2s.message(id, data.length + 3, data)), ...tail])),
      fc
        .tuple(fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 16 }))
        .map(([tag, rest]) => Uint8Array.from([0x08, 0x05, [0x1a, 0x22, 0x38, 0x12, 0x08][tag]!, ...rest])),
    );
    fc.assert(
      fc.property(bytesArb, (bytes) => {
        expect(reference(() => decodeClientToServer(bytes))).toEqual(reference(() => fromBinary(ClientToServerSchema, bytes)));
        expect(reference(() => decodeServerToClient(bytes))).toEqual(reference(() => fromBinary(ServerToClientSchema, bytes)));
      }),
      fuzzParameters(2000),
    );
  });

  it("data and window-update frames are built exactly as create() builds them", () => {
    fc.assert(
      fc.property(idArb, sizeArb, fc.uint8Array({ maxLength: 200 }), (id, size, data) => {
        expect(requestFrames.envelope(id, size, data)).toEqual(c2s.message(id, size, data));
        expect(requestFrames.more(id, data)).toEqual(c2s.more(id, data));
        expect(responseFrames.envelope(id, size, data)).toEqual(s2c.message(id, size, data));
        expect(responseFrames.more(id, data)).toEqual(s2c.more(id, data));
        expect(clientFrames.windowUpdate(id, size)).toEqual(c2s.windowUpdate(id, size));
        expect(serverFrames.windowUpdate(id, size)).toEqual(s2c.windowUpdate(id, size));
      }),
      fuzzParameters(200),
    );
  });
});
