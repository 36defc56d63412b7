// What the memory budgets charge for metadata and frames: never less than
// what the process holds for them. A charge that ignored a value's length,
// or a frame's payload, would let a peer hold memory no budget counts.
import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { StatusSchema } from "../src/gen/google/rpc/status_pb.js";
import { type Metadata, MetadataSchema, Metadata_ValuesSchema } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { FRAME_BYTES, METADATA_BYTES, frameBytes, metadataBytes } from "../src/engine/memory-costs.js";
import { clientFrames, requestFrames, responseFrames, serverFrames } from "../src/protocol/frames.js";

function metadata(entries: Record<string, string[]>): Metadata {
  const md: Metadata["md"] = {};
  for (const [key, val] of Object.entries(entries)) md[key] = create(Metadata_ValuesSchema, { val });
  return create(MetadataSchema, { md });
}

/** The extra charge for `n` more UTF-16 units of one value under `key`. */
function perUnit(key: string, n: number): number {
  return metadataBytes(metadata({ [key]: ["x".repeat(n)] })) - metadataBytes(metadata({ [key]: [""] }));
}

describe("metadataBytes", () => {
  it("charges an object's overhead for metadata without entries, sent or not", () => {
    expect(metadataBytes(undefined)).toBe(METADATA_BYTES);
    expect(metadataBytes(metadata({}))).toBe(METADATA_BYTES);
    expect(METADATA_BYTES).toBeGreaterThan(0);
  });

  it("charges 2 bytes per unit of a text value (V8's widest string) and 3 per unit of a -bin value (its UTF-8)", () => {
    expect(perUnit("x-text", 1_000)).toBe(2_000);
    expect(perUnit("x-data-bin", 1_000)).toBe(3_000);
  });

  it("charges each value with its own entry and key, and a -bin entry more than a text one", () => {
    const key = "k".repeat(100);
    const one = metadataBytes(metadata({ [key]: ["v"] })) - METADATA_BYTES;
    expect(one).toBeGreaterThan(2 * 100); // the key's units, and an entry's overhead
    expect(metadataBytes(metadata({ [key]: ["v", "v", "v"] })) - METADATA_BYTES).toBe(3 * one);
    expect(metadataBytes(metadata({ a: ["v"], b: ["v"] })) - METADATA_BYTES).toBe(
      2 * (metadataBytes(metadata({ a: ["v"] })) - METADATA_BYTES),
    );
    const longerKey = metadataBytes(metadata({ [`${key}${key}`]: ["v"] })) - METADATA_BYTES;
    expect(longerKey - one).toBe(2 * 100);
    // Same lengths; a -bin value decodes to a Buffer, a heavier object than a string.
    expect(metadataBytes(metadata({ "x-a-bin": ["v"] }))).toBeGreaterThan(metadataBytes(metadata({ "x-aaaaa": ["v"] })));
  });
});

describe("frameBytes", () => {
  const payload = (n: number) => new Uint8Array(n);

  it("charges a data frame its payload plus a frame's overhead, in both directions and for every chunk", () => {
    for (const frame of [
      requestFrames.envelope(1n, 5_000, payload(5_000)),
      requestFrames.more(1n, payload(5_000)),
      responseFrames.envelope(1n, 5_000, payload(5_000)),
      responseFrames.more(1n, payload(5_000)),
    ]) {
      expect(frameBytes(frame)).toBe(FRAME_BYTES + 5_000);
    }
  });

  it("charges a frame without payload (half-close, cancel, window update, settings) its overhead", () => {
    for (const frame of [
      clientFrames.halfClose(1n),
      clientFrames.cancel(1n),
      clientFrames.windowUpdate(1n, 10),
      serverFrames.settings([], 10),
    ]) {
      expect(frameBytes(frame)).toBe(FRAME_BYTES);
    }
  });

  it("charges a new stream its method name and headers", () => {
    const headers = metadata({ "x-a": ["1234567890"] });
    const frame = clientFrames.newStream(1n, "/pkg.Service/Method", headers, 65_536, 1);
    expect(frameBytes(frame)).toBe(FRAME_BYTES + "/pkg.Service/Method".length + metadataBytes(headers));
  });

  it("charges response headers their metadata", () => {
    const headers = metadata({ "x-a": ["1234567890"] });
    expect(frameBytes(serverFrames.headers(1n, headers))).toBe(FRAME_BYTES + metadataBytes(headers));
  });

  it("charges a close its trailers, its status message and each detail with its type URL and bytes", () => {
    const trailers = metadata({ "x-t": ["abc"] });
    const ok = serverFrames.close(1n, trailers, undefined);
    expect(frameBytes(ok)).toBe(FRAME_BYTES + metadataBytes(trailers));
    const status = create(StatusSchema, {
      code: 13,
      message: "m".repeat(300),
      details: [{ typeUrl: "type.googleapis.com/x.Y", value: payload(1_000) }],
    });
    const failed = serverFrames.close(1n, trailers, status);
    expect(frameBytes(failed)).toBe(FRAME_BYTES + metadataBytes(trailers) + 300 + FRAME_BYTES + "type.googleapis.com/x.Y".length + 1_000);
  });
});
