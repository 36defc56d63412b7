import { Metadata as GrpcMetadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { metadataEntries } from "../metadata.js";
import type { Metadata as ProtoMetadata, Metadata_Values } from "../gen/grpctunnel/v1/tunnel_pb.js";

// `-bin` values travel as proto strings holding the raw bytes (what the Go
// library does). Go's protobuf runtime rejects strings that are not valid
// UTF-8 and would kill the tunnel, so such values are refused here instead.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Encodes call metadata for the wire. Throws an `INTERNAL` TunnelError naming
 * the key when a `-bin` value is not valid UTF-8 and so cannot be carried.
 */
export function metadataToProto(md: GrpcMetadata | undefined): ProtoMetadata {
  const out: Record<string, Metadata_Values> = {};
  if (md !== undefined) {
    for (const [key, values] of metadataEntries(md)) {
      const val = values.map((v) => (typeof v === "string" ? v : binaryValueToString(key, v)));
      out[key] = { $typeName: VALUES, val };
    }
  }
  // Literals, as create() builds them (a test compares): most calls carry no metadata at all.
  return { $typeName: METADATA, md: out };
}

const METADATA = "grpctunnel.v1.Metadata";
const VALUES = "grpctunnel.v1.Metadata.Values";

/**
 * Decodes wire metadata into grpc-js `Metadata`. Throws a TunnelError with
 * `code` when the peer sent a key or value grpc-js cannot represent, and
 * RESOURCE_EXHAUSTED when it is larger than `maxBytes`.
 */
export function metadataFromProto(proto: ProtoMetadata | undefined, code: Code, maxBytes = Infinity): GrpcMetadata {
  const md = new GrpcMetadata();
  if (proto === undefined || isEmpty(proto.md)) {
    return md;
  }
  const size = protoMetadataSize(proto);
  if (size > maxBytes) {
    throw new TunnelError(Code.RESOURCE_EXHAUSTED, `metadata of ${size} bytes is larger than the limit of ${maxBytes} bytes`);
  }
  for (const [key, values] of Object.entries(proto.md)) {
    for (const value of values.val) {
      try {
        md.add(key, key.endsWith("-bin") ? Buffer.from(value, "utf8") : value);
      } catch (e) {
        throw new TunnelError(code, `invalid metadata from peer: ${(e as Error).message}`);
      }
    }
  }
  return md;
}

/** True for a record without keys, found without listing them. */
function isEmpty(record: Record<string, unknown>): boolean {
  for (const _ in record) {
    return false;
  }
  // Stryker disable next-line BooleanLiteral: equivalent: empty metadata the long way is empty Metadata too (its size, 0, is within any limit)
  return true;
}

/** Size as HTTP/2 counts a header list: key and value bytes plus 32 per entry. */
function protoMetadataSize(proto: ProtoMetadata): number {
  let size = 0;
  for (const [key, values] of Object.entries(proto.md)) {
    for (const value of values.val) {
      size += Buffer.byteLength(key) + Buffer.byteLength(value) + 32;
    }
  }
  return size;
}

function binaryValueToString(key: string, value: Uint8Array): string {
  try {
    return strictUtf8.decode(value);
  } catch {
    throw new TunnelError(
      Code.INTERNAL,
      `metadata "${key}" holds bytes that are not valid UTF-8; the grpctunnel protocol carries binary metadata as proto strings and cannot send them`,
    );
  }
}
