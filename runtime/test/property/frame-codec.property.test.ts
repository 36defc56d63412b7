import fc from "fast-check";
import { toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ClientToServerSchema, ServerToClientSchema } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { encodeClientToServer, encodeServerToClient } from "../../src/protocol/frame-codec.js";
import { c2s, s2c } from "../support/frames.js";
import { fuzzParameters } from "./fuzz-config.js";

// The hand-written encoder of data frames must match protobuf-es byte for byte.
const idArb = fc.oneof(fc.bigInt({ min: -2n, max: 300n }), fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }));
const sizeArb = fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 0xffff_ffff }));
const dataArb = fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 16_000, maxLength: 16_384 }));

describe("property: fast frame encoding equals protobuf-es (data frames and window updates)", () => {
  it("ClientToServer data frames", () => {
    fc.assert(
      fc.property(idArb, sizeArb, dataArb, fc.boolean(), (id, size, data, envelope) => {
        const frame = envelope ? c2s.message(id, size, data) : c2s.more(id, data);
        expect(Buffer.compare(encodeClientToServer(frame), toBinary(ClientToServerSchema, frame))).toBe(0);
        const update = c2s.windowUpdate(id, size);
        expect(Buffer.compare(encodeClientToServer(update), toBinary(ClientToServerSchema, update))).toBe(0);
      }),
      fuzzParameters(500),
    );
  });

  it("ServerToClient data frames", () => {
    fc.assert(
      fc.property(idArb, sizeArb, dataArb, fc.boolean(), (id, size, data, envelope) => {
        const frame = envelope ? s2c.message(id, size, data) : s2c.more(id, data);
        expect(Buffer.compare(encodeServerToClient(frame), toBinary(ServerToClientSchema, frame))).toBe(0);
        const update = s2c.windowUpdate(id, size);
        expect(Buffer.compare(encodeServerToClient(update), toBinary(ServerToClientSchema, update))).toBe(0);
      }),
      fuzzParameters(500),
    );
  });
});
