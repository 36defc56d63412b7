import type { Status } from "../gen/google/rpc/status_pb.js";
import type { ClientToServer, CloseStream, Metadata, Metadata_Values, NewStream, ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { Varints } from "./varint.js";

// The mirror image of control-frame-codec.ts: the control frames of a call
// in their canonical encoding (what this library and Go write: each field
// once, in field order, ASCII text) are parsed here directly, into what
// fromBinary gives. Anything else — other fields, repeated or unknown
// ones, non-ASCII text (left to protobuf's UTF-8 rules), status details —
// returns undefined and fromBinary decides. Tests check both give equal
// frames, and the same errors.

const C2S = "grpctunnel.v1.ClientToServer";
const S2C = "grpctunnel.v1.ServerToClient";
const TAG_STREAM_ID = 0x08;
const TAG_1 = 0x0a; // field 1, length-delimited
const TAG_2 = 0x12; // field 2, length-delimited
const TAG_3_VARINT = 0x18;
const TAG_4_VARINT = 0x20;
const TAG_5 = 0x2a;
const TAG_6 = 0x32;
const MAX_UINT32 = 0xffff_ffff;
const MAX_INT32 = 0x7fff_ffff;

/** `new_stream`, `half_close` or `cancel`; undefined outside the fast path. */
export function decodeClientControl(bytes: Uint8Array): ClientToServer | undefined {
  const head = frameHead(bytes);
  if (head === undefined) {
    return undefined;
  }
  const { reader, streamId, tag } = head;
  if (tag === TAG_2) {
    const value = newStream(reader, bytes.length);
    return value && { $typeName: C2S, streamId, frame: { case: "newStream", value } };
  }
  if ((tag === TAG_5 || tag === TAG_6) && reader.pos === bytes.length) {
    const value = { $typeName: "google.protobuf.Empty" as const };
    return { $typeName: C2S, streamId, frame: tag === TAG_5 ? { case: "halfClose", value } : { case: "cancel", value } };
  }
  return undefined;
}

/** Response headers or `close_stream`; undefined outside the fast path. */
export function decodeServerControl(bytes: Uint8Array): ServerToClient | undefined {
  const head = frameHead(bytes);
  if (head === undefined) {
    return undefined;
  }
  const { reader, streamId, tag } = head;
  if (tag === TAG_2) {
    const value = metadata(reader, bytes.length);
    return value && { $typeName: S2C, streamId, frame: { case: "responseHeaders", value } };
  }
  if (tag === TAG_5) {
    const value = closeStream(reader, bytes.length);
    return value && { $typeName: S2C, streamId, frame: { case: "closeStream", value } };
  }
  return undefined;
}

/** `{stream_id, <tag>: <length>…}` with the body running to the end; the reader at the body. */
function frameHead(bytes: Uint8Array): { reader: Varints; streamId: bigint; tag: number } | undefined {
  if (bytes[0] !== TAG_STREAM_ID) {
    return undefined;
  }
  const reader = new Varints(bytes);
  reader.pos = 1;
  const id = reader.varint(7); // up to 2^49: exact in a double
  if (id === undefined || id === 0) {
    return undefined;
  }
  const tag = bytes[reader.pos++];
  if (tag === undefined) {
    return undefined;
  }
  if (tag === TAG_5 || tag === TAG_6 || tag === TAG_2) {
    const length = reader.varint(5);
    if (length === undefined || reader.pos + length !== bytes.length) {
      return undefined;
    }
  }
  return { reader, streamId: BigInt(id), tag };
}

/** The end of a length-delimited value starting at the reader (its length read), if it lies within `end`. */
function lengthEnd(reader: Varints, end: number): number | undefined {
  const length = reader.varint(5);
  return length === undefined || reader.pos + length > end ? undefined : reader.pos + length;
}

/** A varint field's value within `max`, if it lies within `end`. */
function varint(reader: Varints, end: number, max: number): number | undefined {
  const value = reader.varint(5);
  return value === undefined || value > max || reader.pos > end ? undefined : value;
}

/** ASCII text of a length-delimited field (anything else is left to protobuf's UTF-8 rules). */
function ascii(reader: Varints, bytes: Uint8Array, end: number): string | undefined {
  const stop = lengthEnd(reader, end);
  if (stop === undefined) {
    return undefined;
  }
  for (let i = reader.pos; i < stop; i++) {
    if (bytes[i]! >= 0x80) {
      return undefined;
    }
  }
  // grpc-js hands frames over as Buffers; a view is made only for other arrays.
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buffer.toString("latin1", reader.pos, stop);
  reader.pos = stop;
  return text;
}

function newStream(reader: Varints, end: number): NewStream | undefined {
  const bytes = reader.bytes;
  const out: NewStream = { $typeName: "grpctunnel.v1.NewStream", methodName: "", initialWindowSize: 0, protocolRevision: 0 };
  if (bytes[reader.pos] === TAG_1 && reader.pos < end) {
    reader.pos++;
    const name = ascii(reader, bytes, end);
    if (name === undefined) {
      return undefined;
    }
    out.methodName = name;
  }
  if (bytes[reader.pos] === TAG_2 && reader.pos < end) {
    reader.pos++;
    const stop = lengthEnd(reader, end);
    const headers = stop === undefined ? undefined : metadata(reader, stop);
    if (headers === undefined) {
      return undefined;
    }
    out.requestHeaders = headers;
  }
  if (bytes[reader.pos] === TAG_3_VARINT && reader.pos < end) {
    reader.pos++;
    const window = varint(reader, end, MAX_UINT32);
    if (window === undefined) {
      return undefined;
    }
    out.initialWindowSize = window;
  }
  if (bytes[reader.pos] === TAG_4_VARINT && reader.pos < end) {
    reader.pos++;
    const revision = varint(reader, end, MAX_INT32);
    if (revision === undefined) {
      return undefined;
    }
    out.protocolRevision = revision;
  }
  return reader.pos === end ? out : undefined;
}

/** `Metadata` running to `end`: map entries `{key, Values{val…}}`, each key once. */
function metadata(reader: Varints, end: number): Metadata | undefined {
  const bytes = reader.bytes;
  const md: Record<string, Metadata_Values> = {};
  while (reader.pos < end) {
    if (bytes[reader.pos++] !== TAG_1) {
      return undefined;
    }
    const entryEnd = lengthEnd(reader, end);
    if (entryEnd === undefined || bytes[reader.pos++] !== TAG_1) {
      return undefined;
    }
    const key = ascii(reader, bytes, entryEnd);
    if (key === undefined || key === "__proto__" || Object.hasOwn(md, key) || bytes[reader.pos++] !== TAG_2) {
      return undefined;
    }
    const valuesEnd = lengthEnd(reader, entryEnd);
    if (valuesEnd !== entryEnd) {
      return undefined;
    }
    const val: string[] = [];
    while (reader.pos < valuesEnd) {
      if (bytes[reader.pos++] !== TAG_1) {
        return undefined;
      }
      const value = ascii(reader, bytes, valuesEnd);
      if (value === undefined) {
        return undefined;
      }
      val.push(value);
    }
    md[key] = { $typeName: "grpctunnel.v1.Metadata.Values", val };
  }
  return reader.pos === end ? { $typeName: "grpctunnel.v1.Metadata", md } : undefined;
}

function closeStream(reader: Varints, end: number): CloseStream | undefined {
  const bytes = reader.bytes;
  const out: CloseStream = { $typeName: "grpctunnel.v1.CloseStream" };
  if (bytes[reader.pos] === TAG_1 && reader.pos < end) {
    reader.pos++;
    const stop = lengthEnd(reader, end);
    const trailers = stop === undefined ? undefined : metadata(reader, stop);
    if (trailers === undefined) {
      return undefined;
    }
    out.responseTrailers = trailers;
  }
  if (bytes[reader.pos] === TAG_2 && reader.pos < end) {
    reader.pos++;
    const stop = lengthEnd(reader, end);
    const status = stop === undefined ? undefined : statusOf(reader, stop);
    if (status === undefined) {
      return undefined;
    }
    out.status = status;
  }
  return reader.pos === end ? out : undefined;
}

/** `google.rpc.Status` without details (those go through fromBinary). */
function statusOf(reader: Varints, end: number): Status | undefined {
  const bytes = reader.bytes;
  const out: Status = { $typeName: "google.rpc.Status", code: 0, message: "", details: [] };
  if (bytes[reader.pos] === TAG_STREAM_ID && reader.pos < end) {
    reader.pos++;
    const code = varint(reader, end, MAX_INT32);
    if (code === undefined) {
      return undefined;
    }
    out.code = code;
  }
  if (bytes[reader.pos] === TAG_2 && reader.pos < end) {
    reader.pos++;
    const message = ascii(reader, bytes, end);
    if (message === undefined) {
      return undefined;
    }
    out.message = message;
  }
  return reader.pos === end ? out : undefined;
}
