import fc from "fast-check";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Metadata } from "@grpc/grpc-js";
import { StatusSchema } from "../../src/gen/google/rpc/status_pb.js";
import {
  ClientToServerSchema,
  CloseStreamSchema,
  MetadataSchema,
  NewStreamSchema,
  ServerToClientSchema,
} from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { metadataToProto } from "../../src/protocol/metadata-codec.js";
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

  it("control frames and metadata are built exactly as create() builds them", () => {
    // The builders use literals for speed; a field added to the schema would
    // be missing from them, and this fails.
    const mdArb = fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), {
      maxKeys: 3,
    });
    fc.assert(
      fc.property(
        idArb,
        sizeArb,
        fc.string({ maxLength: 40 }),
        mdArb,
        fc.constantFrom(0, 1),
        fc.boolean(),
        (id, size, name, md, revision, ok) => {
          const grpcMd = new Metadata();
          for (const [key, values] of Object.entries(md)) {
            for (const value of values) {
              grpcMd.add(key, value);
            }
          }
          const proto = metadataToProto(grpcMd);
          const expected = create(MetadataSchema, {
            md: Object.fromEntries(
              Object.entries(md)
                .filter(([, v]) => v.length > 0)
                .map(([k, val]) => [k, { val }]),
            ),
          });
          expect(proto).toStrictEqual(expected);
          expect(metadataToProto(undefined)).toStrictEqual(create(MetadataSchema));
          expect(clientFrames.newStream(id, name, proto, size, revision)).toStrictEqual(
            create(ClientToServerSchema, {
              streamId: id,
              frame: {
                case: "newStream",
                value: create(NewStreamSchema, {
                  methodName: name,
                  requestHeaders: proto,
                  initialWindowSize: size,
                  protocolRevision: revision,
                }),
              },
            }),
          );
          expect(clientFrames.halfClose(id)).toStrictEqual(c2s.halfClose(id));
          expect(clientFrames.cancel(id)).toStrictEqual(c2s.cancel(id));
          expect(serverFrames.headers(id, proto)).toStrictEqual(
            create(ServerToClientSchema, { streamId: id, frame: { case: "responseHeaders", value: proto } }),
          );
          const status = ok ? undefined : create(StatusSchema, { code: 5, message: name });
          expect(serverFrames.close(id, proto, status)).toStrictEqual(
            create(ServerToClientSchema, {
              streamId: id,
              frame: { case: "closeStream", value: create(CloseStreamSchema, { responseTrailers: proto, status }) },
            }),
          );
        },
      ),
      fuzzParameters(200),
    );
  });
});
