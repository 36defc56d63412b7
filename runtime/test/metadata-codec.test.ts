// Metadata from a peer, into grpc-js Metadata: the size limit is HTTP/2's
// count (key and value bytes plus 32 per entry), inclusive.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { MetadataSchema } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { metadataFromProto } from "../src/protocol/metadata-codec.js";

describe("metadataFromProto", () => {
  // 2 entries: (5 + 3 + 32) + (5 + 1 + 32) = 78 bytes.
  const proto = create(MetadataSchema, { md: { "x-key": { val: ["abc", "d"] } } });

  it("takes metadata of exactly the limit", () => {
    const md = metadataFromProto(proto, Code.INTERNAL, 78);
    expect(md.get("x-key")).toEqual(["abc", "d"]);
  });

  it("refuses one byte more with RESOURCE_EXHAUSTED, saying both sizes", () => {
    let error: unknown;
    try {
      metadataFromProto(proto, Code.INTERNAL, 77);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TunnelError);
    expect((error as TunnelError).code).toBe(Code.RESOURCE_EXHAUSTED);
    expect((error as TunnelError).rawMessage).toBe("metadata of 78 bytes is larger than the limit of 77 bytes");
  });

  it("gives empty Metadata for none, or for empty metadata, within any limit", () => {
    expect(metadataFromProto(undefined, Code.INTERNAL, 0).getMap()).toEqual({});
    expect(metadataFromProto(create(MetadataSchema), Code.INTERNAL, 0).getMap()).toEqual({});
  });
});
