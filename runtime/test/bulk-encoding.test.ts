// Messages with large bytes fields are serialized by the runtime itself
// (protocol/bulk-encoding.ts) rather than by toBinary: spliced into what toBinary
// writes for the rest, in one buffer of the exact size with headroom for the
// frame header. These tests check that the bytes are toBinary's for every
// kind of presence and field around the large ones, that it leaves what it
// cannot handle to toBinary, and that a frame made in place is the frame the
// copying encoder makes.
import { create, createFileRegistry, type DescMessage, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { FieldDescriptorProto_Label as Label, FieldDescriptorProto_Type as Type, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { encodeBulk } from "../src/protocol/bulk-encoding.js";
import { encodeMessage } from "../src/api/client/index.js";
import { encodeClientToServer, encodeServerToClient } from "../src/protocol/frame-codec.js";
import { FRAME_HEADROOM, hasHeadroom } from "../src/protocol/headroom.js";
import { c2s, s2c } from "./support/frames.js";
import { fuzzParameters } from "./property/fuzz-config.js";

const bytesField = (name: string, number: number, more: object = {}) => ({
  name,
  number,
  type: Type.BYTES,
  label: Label.OPTIONAL,
  ...more,
});

const registry = createFileRegistry(
  create(FileDescriptorSetSchema, {
    file: [
      {
        name: "bulk3.proto",
        package: "bulk3",
        syntax: "proto3",
        messageType: [
          { name: "Inner", field: [bytesField("blob", 1)] },
          {
            name: "Bulk",
            field: [
              { name: "name", number: 1, type: Type.STRING, label: Label.OPTIONAL },
              bytesField("payload", 2),
              bytesField("extra", 3, { proto3Optional: true, oneofIndex: 1 }),
              { name: "count", number: 4, type: Type.INT32, label: Label.OPTIONAL },
              bytesField("choice_bytes", 5, { oneofIndex: 0 }),
              { name: "choice_text", number: 6, type: Type.STRING, label: Label.OPTIONAL, oneofIndex: 0 },
              bytesField("list", 7, { label: Label.REPEATED }),
              { name: "inner", number: 8, type: Type.MESSAGE, label: Label.OPTIONAL, typeName: ".bulk3.Inner" },
              // A field number whose tag takes three bytes.
              bytesField("far", 0x3fff),
            ],
            oneofDecl: [{ name: "choice" }, { name: "_extra" }],
          },
          // Fields declared out of number order: toBinary writes them by number.
          {
            name: "Reversed",
            field: [bytesField("high", 9), { name: "mid", number: 5, type: Type.STRING, label: Label.OPTIONAL }, bytesField("low", 2)],
          },
        ],
      },
      {
        name: "bulk2.proto",
        package: "bulk2",
        syntax: "proto2",
        messageType: [
          {
            name: "Legacy",
            field: [
              bytesField("data", 1, { defaultValue: "abc" }),
              bytesField("required_data", 2, { label: Label.REQUIRED }),
              { name: "n", number: 3, type: Type.INT32, label: Label.OPTIONAL },
              { name: "g", number: 4, type: Type.GROUP, label: Label.OPTIONAL, typeName: ".bulk2.Legacy.G" },
              bytesField("late", 5),
              { name: "wide", number: 6, type: Type.INT64, label: Label.REPEATED },
              { name: "fixed", number: 7, type: Type.FIXED64, label: Label.OPTIONAL },
              { name: "narrow", number: 8, type: Type.FIXED32, label: Label.OPTIONAL },
              bytesField("last", 9),
            ],
            nestedType: [{ name: "G", field: [{ name: "a", number: 1, type: Type.INT32, label: Label.OPTIONAL }] }],
          },
        ],
      },
    ],
  }),
);

function message(typeName: string): DescMessage {
  const desc = registry.getMessage(typeName);
  if (desc === undefined) {
    throw new Error(`no ${typeName}`);
  }
  return desc;
}

const Bulk = message("bulk3.Bulk");
const Legacy = message("bulk2.Legacy");
const Reversed = message("bulk3.Reversed");

/** Distinct bytes, so a field written from the wrong source shows. */
function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    out[i] = (i * 31 + seed) & 0xff;
  }
  return out;
}

const LARGE = 64 * 1024;

/** Encodes with the runtime, checks it took the bulk path and wrote toBinary's bytes, and left the message alone. */
function roundTrip(schema: DescMessage, init: Record<string, unknown>): void {
  const original = create(schema, init);
  const expected = toBinary(schema, original);
  const encoded = encodeMessage(schema, original);
  expect(hasHeadroom(encoded), "the bulk path made the bytes").toBe(true);
  expect(Buffer.compare(encoded, expected), "the bytes toBinary writes").toBe(0);
  expect(equals(schema, fromBinary(schema, encoded), original)).toBe(true);
  // The message given to the encoder is left as it was.
  expect(Buffer.compare(toBinary(schema, original), expected)).toBe(0);
}

describe("bulk encoding of large bytes fields", () => {
  it("splices a large implicit-presence field between the fields around it", () => {
    roundTrip(Bulk, { name: "n", payload: bytes(LARGE, 1), count: 7, list: [bytes(3, 2)], inner: { blob: bytes(5, 3) } });
    roundTrip(Bulk, { payload: bytes(LARGE, 1) });
    roundTrip(Bulk, { payload: bytes(LARGE, 1), list: [bytes(3, 2), bytes(4, 5)] });
  });

  it("handles explicit presence: a large optional field set, and left unset", () => {
    roundTrip(Bulk, { payload: bytes(LARGE, 4), extra: bytes(LARGE + 1, 5) });
    roundTrip(Bulk, { extra: bytes(LARGE, 6), count: 1 });
    const parsed = fromBinary(Bulk, encodeMessage(Bulk, { payload: bytes(LARGE, 7) }));
    expect(Object.hasOwn(parsed, "extra")).toBe(false);
  });

  it("writes large fields in number order, whatever the order they are declared in", () => {
    roundTrip(Reversed, { high: bytes(LARGE, 20), mid: "m", low: bytes(LARGE + 3, 21) });
  });

  it("takes a field of exactly 8 KiB, and leaves one byte less to toBinary", () => {
    roundTrip(Bulk, { payload: bytes(8 * 1024, 22), count: 2 });
    expect(encodeBulk(Bulk, create(Bulk, { payload: bytes(8 * 1024 - 1, 23) }))).toBeUndefined();
  });

  it("writes a large field with a three-byte tag", () => {
    roundTrip(Bulk, { far: bytes(LARGE, 8), name: "far" });
  });

  it("keeps unknown fields", () => {
    const withUnknown = fromBinary(Bulk, Buffer.from([0xa0, 0x06, 0x2a, ...toBinary(Bulk, create(Bulk, { count: 3 }))]));
    expect(withUnknown.$unknown?.length).toBe(1);
    const init = { ...withUnknown, payload: bytes(LARGE, 9) };
    roundTrip(Bulk, init);
    expect(fromBinary(Bulk, encodeMessage(Bulk, init)).$unknown).toEqual(withUnknown.$unknown);
    // An unknown field numbered below a large known one still comes after it, as toBinary writes it.
    roundTrip(Bulk, { ...withUnknown, far: bytes(LARGE, 19) });
  });

  it("handles proto2: an optional field with a default, set large; groups, varints, fixed fields before and after", () => {
    roundTrip(Legacy, { data: bytes(LARGE, 10), requiredData: bytes(2, 11), n: 5 });
    const around = { requiredData: bytes(2, 11), n: -5, g: { a: 3 }, wide: [-1n, 2n], fixed: 9n, narrow: 4 };
    roundTrip(Legacy, { ...around, late: bytes(LARGE, 12) });
    roundTrip(Legacy, { ...around, data: bytes(LARGE, 13), late: bytes(LARGE + 7, 14), last: bytes(LARGE * 2, 15) });
  });

  it("leaves to toBinary what it does not write: small fields, oneof, repeated, nested, required", () => {
    const cases: Array<[DescMessage, Record<string, unknown>]> = [
      [Bulk, { payload: bytes(8 * 1024 - 1, 12), name: "small" }],
      [Bulk, { choice: { case: "choiceBytes", value: bytes(LARGE, 13) } }],
      [Bulk, { list: [bytes(LARGE, 14)] }],
      [Bulk, { inner: { blob: bytes(LARGE, 15) } }],
      [Legacy, { requiredData: bytes(LARGE, 16) }],
    ];
    for (const [schema, init] of cases) {
      const msg = create(schema, init);
      expect(encodeBulk(schema, msg)).toBeUndefined();
      expect(Buffer.compare(encodeMessage(schema, msg), toBinary(schema, msg))).toBe(0);
    }
  });

  it("property: any mix of field sizes gives the bytes toBinary writes", () => {
    const sized = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 8 * 1024 - 2, max: 8 * 1024 + 2 }));
    fc.assert(
      fc.property(sized, sized, fc.option(sized), sized, fc.string(), (p, f, e, c, name) => {
        const init: Record<string, unknown> = {
          payload: bytes(p, 1),
          far: bytes(f, 2),
          name,
          choice: { case: "choiceBytes", value: bytes(c, 3) },
        };
        if (e !== null) {
          init.extra = bytes(e, 4);
        }
        const original = create(Bulk, init);
        expect(Buffer.compare(encodeMessage(Bulk, original), toBinary(Bulk, original))).toBe(0);
      }),
      fuzzParameters(200),
    );
  });
});

describe("data frames made in place", () => {
  it("are the bytes the copying encoder writes, and share the message's memory", () => {
    for (const encode of [
      (id: bigint, data: Uint8Array) => encodeClientToServer(c2s.message(id, data.length, data)),
      (id: bigint, data: Uint8Array) => encodeServerToClient(s2c.message(id, data.length, data)),
    ]) {
      for (const id of [1n, 300n, 2n ** 53n - 1n]) {
        const data = encodeMessage(Bulk, { payload: bytes(LARGE, Number(id % 251n)), count: 9 });
        const copied = encode(id, Buffer.from(data));
        const inPlace = encode(id, data);
        expect(Buffer.compare(inPlace, copied)).toBe(0);
        expect(inPlace.buffer).toBe(data.buffer);
        expect(inPlace.byteOffset + inPlace.length).toBe(data.byteOffset + data.length);
        expect(data.byteOffset - inPlace.byteOffset).toBeLessThanOrEqual(FRAME_HEADROOM);
      }
    }
  });

  it("only once: a second frame over the same bytes is a copy", () => {
    const data = encodeMessage(Bulk, { payload: bytes(LARGE, 17) });
    const first = encodeClientToServer(c2s.message(5n, data.length, data));
    const second = encodeClientToServer(c2s.message(5n, data.length, data));
    expect(first.buffer).toBe(data.buffer);
    expect(second.buffer).not.toBe(data.buffer);
    expect(Buffer.compare(first, second)).toBe(0);
    expect(hasHeadroom(data)).toBe(false);
  });

  it("never for bytes the runtime did not allocate, nor for a part of a message", () => {
    const parent = Buffer.alloc(LARGE + 64, 0xee);
    const view = parent.subarray(64);
    const frame = encodeClientToServer(c2s.more(3n, view));
    expect(frame.buffer).not.toBe(parent.buffer);
    expect(parent.subarray(0, 64).every((b) => b === 0xee)).toBe(true);
    const data = encodeMessage(Bulk, { payload: bytes(LARGE, 18) });
    const part = encodeClientToServer(c2s.more(3n, data.subarray(0, 1000)));
    expect(part.buffer).not.toBe(data.buffer);
    expect(hasHeadroom(data)).toBe(true);
  });
});
