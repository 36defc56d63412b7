import { fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { ClientToServerSchema, ServerToClientSchema } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { GO_CHUNK_BYTES } from "../src/protocol/constants.js";
import { frameBytes, loadVectors } from "./support/vectors.js";

const vectors = loadVectors();

describe("Go reference vectors: codec", () => {
  it("has every recorded scenario", () => {
    expect(vectors.map((v) => v.scenario)).toHaveLength(14);
  });

  for (const vector of vectors) {
    it(`${vector.scenario}: every frame decodes to its JSON and re-encodes byte-identically`, () => {
      for (const frame of vector.frames) {
        const schema = frame.type === "ClientToServer" ? ClientToServerSchema : ServerToClientSchema;
        const bytes = frameBytes(frame);
        const decoded = fromBinary(schema, bytes);
        expect(toJson(schema, decoded)).toEqual(frame.json);
        expect(Buffer.from(toBinary(schema, decoded)).toString("hex")).toBe(frame.hex);
      }
    });

    it(`${vector.scenario}: chunks are at most 16 KiB and add up to each envelope's size`, () => {
      for (const direction of ["c2s", "s2c"] as const) {
        let expected = -1;
        for (const frame of vector.frames.filter((f) => f.dir === direction)) {
          const schema = frame.type === "ClientToServer" ? ClientToServerSchema : ServerToClientSchema;
          const { frame: body } = fromBinary(schema, frameBytes(frame));
          if (body.case === "requestMessage" || body.case === "responseMessage") {
            expect(expected === -1 || expected === 0).toBe(true);
            expect(body.value.data.length).toBeLessThanOrEqual(GO_CHUNK_BYTES);
            expected = body.value.size - body.value.data.length;
          } else if (body.case === "moreRequestData" || body.case === "moreResponseData") {
            expect(body.value.length).toBeLessThanOrEqual(GO_CHUNK_BYTES);
            expected -= body.value.length;
            expect(expected).toBeGreaterThanOrEqual(0);
          }
        }
        expect(expected === -1 || expected === 0).toBe(true);
      }
    });
  }
});
