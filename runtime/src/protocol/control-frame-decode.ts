import { fromBinary } from "@bufbuild/protobuf";
import type { Status } from "../gen/google/rpc/status_pb.js";
import {
  type ClientToServer,
  type CloseStream,
  type Metadata,
  MetadataSchema,
  type Metadata_Values,
  type NewStream,
  type ServerToClient,
} from "../gen/grpctunnel/v1/tunnel_pb.js";
import {
  MAX_INT32,
  MAX_UINT32,
  readFrameStart,
  TAG_LENGTH_1,
  TAG_LENGTH_2,
  TAG_LENGTH_5,
  TAG_LENGTH_6,
  TAG_VARINT_1,
  TAG_VARINT_3,
  TAG_VARINT_4,
  type FrameStart,
  Varints,
} from "./wire.js";

// The mirror image of control-frame-codec.ts: the control frames of a call
// in their canonical encoding (what this library and Go write: each field
// once, in field order, ASCII text) are parsed here directly, into what
// fromBinary gives. Anything else — other fields, repeated or unknown
// ones, non-ASCII text (left to protobuf's UTF-8 rules), status details —
// returns undefined and fromBinary decides. Tests check both give equal
// frames, and the same errors.

const C2S = "grpctunnel.v1.ClientToServer";
const S2C = "grpctunnel.v1.ServerToClient";

/**
 * A `new_stream` whose request headers are not decoded yet: `headersView`
 * holds their bytes (a view of the received frame), for `requestHeadersOf`
 * once the stream passed every check that needs no headers. A stream
 * refused for a limit then costs no decoding.
 */
export interface DeferredNewStream extends NewStream {
  headersView?: Uint8Array;
}

/**
 * `new_stream`, `half_close` or `cancel`; undefined outside the fast path.
 * With `deferHeaders`, a `new_stream`'s request headers are left undecoded
 * (see DeferredNewStream).
 */
export function decodeClientControl(bytes: Uint8Array, deferHeaders = false, start = readFrameStart(bytes)): ClientToServer | undefined {
  const reader = frameHead(bytes, start);
  if (reader === undefined) {
    return undefined;
  }
  const { streamId, tag } = reader;
  if (tag === TAG_LENGTH_2) {
    const value = newStream(reader, bytes.length, deferHeaders);
    return value && { $typeName: C2S, streamId, frame: { case: "newStream", value } };
  }
  if ((tag === TAG_LENGTH_5 || tag === TAG_LENGTH_6) && reader.pos === bytes.length) {
    const value = { $typeName: "google.protobuf.Empty" as const };
    return { $typeName: C2S, streamId, frame: tag === TAG_LENGTH_5 ? { case: "halfClose", value } : { case: "cancel", value } };
  }
  return undefined;
}

/** Response headers or `close_stream`; undefined outside the fast path. */
export function decodeServerControl(bytes: Uint8Array, start = readFrameStart(bytes)): ServerToClient | undefined {
  const reader = frameHead(bytes, start);
  if (reader === undefined) {
    return undefined;
  }
  const { streamId, tag } = reader;
  if (tag === TAG_LENGTH_2) {
    const value = metadata(reader, bytes.length);
    return value && { $typeName: S2C, streamId, frame: { case: "responseHeaders", value } };
  }
  if (tag === TAG_LENGTH_5) {
    const value = closeStream(reader, bytes.length);
    return value && { $typeName: S2C, streamId, frame: { case: "closeStream", value } };
  }
  return undefined;
}

/** `{stream_id, <tag>: <length>…}` (its start read) with the body running to the end; the reader at the body. */
function frameHead(bytes: Uint8Array, start: FrameStart | undefined): FrameStart | undefined {
  if (start === undefined) {
    return undefined;
  }
  const tag = start.tag;
  if (tag === TAG_LENGTH_5 || tag === TAG_LENGTH_6 || tag === TAG_LENGTH_2) {
    const length = start.varint(5);
    if (length === undefined || start.pos + length !== bytes.length) {
      return undefined;
    }
  }
  return start;
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
function ascii(reader: Varints, end: number): string | undefined {
  const { bytes } = reader;
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

/** True when the reader is at a field with `tag` before `end`; the tag is then consumed. */
function at(reader: Varints, end: number, tag: number): boolean {
  if (reader.pos < end && reader.bytes[reader.pos] === tag) {
    reader.pos++;
    return true;
  }
  return false;
}

// Each message's fields are read once each, in field order, by straight-line
// code (a table of field readers cost more than the frame); anything else
// (another order, a repeat, an unknown field) leaves bytes unread, and the
// message is then outside the fast path.

function newStream(reader: Varints, end: number, deferHeaders: boolean): NewStream | undefined {
  const out: DeferredNewStream = { $typeName: "grpctunnel.v1.NewStream", methodName: "", initialWindowSize: 0, protocolRevision: 0 };
  if (at(reader, end, TAG_LENGTH_1)) {
    const name = ascii(reader, end);
    if (name === undefined) {
      return undefined;
    }
    out.methodName = name;
  }
  if (at(reader, end, TAG_LENGTH_2)) {
    if (deferHeaders) {
      const stop = lengthEnd(reader, end);
      if (stop === undefined) {
        return undefined;
      }
      out.headersView = reader.bytes.subarray(reader.pos, stop);
      reader.pos = stop;
    } else {
      const headers = nestedMetadata(reader, end);
      if (headers === undefined) {
        return undefined;
      }
      out.requestHeaders = headers;
    }
  }
  if (at(reader, end, TAG_VARINT_3)) {
    const window = varint(reader, end, MAX_UINT32);
    if (window === undefined) {
      return undefined;
    }
    out.initialWindowSize = window;
  }
  if (at(reader, end, TAG_VARINT_4)) {
    // Enums are int32; negative ones are left to fromBinary.
    const revision = varint(reader, end, MAX_INT32);
    if (revision === undefined) {
      return undefined;
    }
    out.protocolRevision = revision;
  }
  return reader.pos === end ? out : undefined;
}

/**
 * The request headers of a `new_stream`, decoding them now if they were
 * deferred; throws like fromBinary on malformed bytes.
 */
export function requestHeadersOf(init: DeferredNewStream): Metadata | undefined {
  const bytes = init.headersView;
  if (bytes === undefined) {
    return init.requestHeaders;
  }
  return metadata(new Varints(bytes), bytes.length) ?? fromBinary(MetadataSchema, bytes);
}

function closeStream(reader: Varints, end: number): CloseStream | undefined {
  const out: CloseStream = { $typeName: "grpctunnel.v1.CloseStream" };
  if (at(reader, end, TAG_LENGTH_1)) {
    const trailers = nestedMetadata(reader, end);
    if (trailers === undefined) {
      return undefined;
    }
    out.responseTrailers = trailers;
  }
  if (at(reader, end, TAG_LENGTH_2)) {
    const stop = lengthEnd(reader, end);
    const status = stop === undefined ? undefined : statusOf(reader, stop);
    if (status === undefined) {
      return undefined;
    }
    out.status = status;
  }
  return reader.pos === end ? out : undefined;
}

/** `google.rpc.Status`; `details` (field 3) is not read: a status with details goes through fromBinary. */
function statusOf(reader: Varints, end: number): Status | undefined {
  const out: Status = { $typeName: "google.rpc.Status", code: 0, message: "", details: [] };
  if (at(reader, end, TAG_VARINT_1)) {
    const code = varint(reader, end, MAX_INT32);
    if (code === undefined) {
      return undefined;
    }
    out.code = code;
  }
  if (at(reader, end, TAG_LENGTH_2)) {
    const message = ascii(reader, end);
    if (message === undefined) {
      return undefined;
    }
    out.message = message;
  }
  return reader.pos === end ? out : undefined;
}

/** A length-delimited `Metadata` field's value (its tag read), if it takes exactly its bytes. */
function nestedMetadata(reader: Varints, end: number): Metadata | undefined {
  const stop = lengthEnd(reader, end);
  return stop === undefined ? undefined : metadata(reader, stop);
}

/** `Metadata` running to `end`: map entries `{key, Values{val…}}`, each key once. */
function metadata(reader: Varints, end: number): Metadata | undefined {
  const { bytes } = reader;
  const md: Record<string, Metadata_Values> = {};
  while (reader.pos < end) {
    if (bytes[reader.pos++] !== TAG_LENGTH_1) {
      return undefined;
    }
    const entryEnd = lengthEnd(reader, end);
    if (entryEnd === undefined || bytes[reader.pos++] !== TAG_LENGTH_1) {
      return undefined;
    }
    const key = ascii(reader, entryEnd);
    if (key === undefined || key === "__proto__" || Object.hasOwn(md, key) || bytes[reader.pos++] !== TAG_LENGTH_2) {
      return undefined;
    }
    const valuesEnd = lengthEnd(reader, entryEnd);
    if (valuesEnd !== entryEnd) {
      return undefined;
    }
    const val: string[] = [];
    while (reader.pos < valuesEnd) {
      if (bytes[reader.pos++] !== TAG_LENGTH_1) {
        return undefined;
      }
      const value = ascii(reader, valuesEnd);
      if (value === undefined) {
        return undefined;
      }
      val.push(value);
    }
    md[key] = { $typeName: "grpctunnel.v1.Metadata.Values", val };
  }
  return reader.pos === end ? { $typeName: "grpctunnel.v1.Metadata", md } : undefined;
}
