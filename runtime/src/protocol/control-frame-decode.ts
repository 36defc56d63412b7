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
export function decodeClientControl(bytes: Uint8Array, deferHeaders = false): ClientToServer | undefined {
  const head = frameHead(bytes);
  if (head === undefined) {
    return undefined;
  }
  const { reader, streamId, tag } = head;
  if (tag === TAG_LENGTH_2) {
    const value = newStream(reader, bytes.length, deferHeaders ? DEFERRED_NEW_STREAM_FIELDS : NEW_STREAM_FIELDS);
    return value && { $typeName: C2S, streamId, frame: { case: "newStream", value } };
  }
  if ((tag === TAG_LENGTH_5 || tag === TAG_LENGTH_6) && reader.pos === bytes.length) {
    const value = { $typeName: "google.protobuf.Empty" as const };
    return { $typeName: C2S, streamId, frame: tag === TAG_LENGTH_5 ? { case: "halfClose", value } : { case: "cancel", value } };
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

/** `{stream_id, <tag>: <length>…}` with the body running to the end; the reader at the body. */
function frameHead(bytes: Uint8Array): { reader: Varints; streamId: bigint; tag: number } | undefined {
  const start = readFrameStart(bytes);
  if (start === undefined) {
    return undefined;
  }
  const { reader, tag } = start;
  if (tag === TAG_LENGTH_5 || tag === TAG_LENGTH_6 || tag === TAG_LENGTH_2) {
    const length = reader.varint(5);
    if (length === undefined || reader.pos + length !== bytes.length) {
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

/** A sub-message field: `read` must take exactly its bytes. */
function nested<T>(read: (reader: Varints, end: number) => T | undefined): FieldReader {
  return (reader, end) => {
    const stop = lengthEnd(reader, end);
    return stop === undefined ? undefined : read(reader, stop);
  };
}

/** Reads a field's value at the reader (its tag read); undefined when outside the fast path. */
type FieldReader = (reader: Varints, end: number) => unknown;

/** A message's fields this fast path reads: tag, property, reader, in field order. */
type Fields<T> = ReadonlyArray<readonly [tag: number, key: keyof T, read: FieldReader]>;

/** Reads `fields`, each at most once and in order, into `out` up to `end`; undefined for anything else. */
function message<T extends object>(reader: Varints, end: number, out: T, fields: Fields<T>): T | undefined {
  for (const [tag, key, read] of fields) {
    if (reader.pos < end && reader.bytes[reader.pos] === tag) {
      reader.pos++;
      const value = read(reader, end);
      if (value === undefined) {
        return undefined;
      }
      out[key] = value as T[keyof T];
    }
  }
  return reader.pos === end ? out : undefined;
}

const uint32: FieldReader = (reader, end) => varint(reader, end, MAX_UINT32);
const int32: FieldReader = (reader, end) => varint(reader, end, MAX_INT32); // enums too; negative ones are left to fromBinary
const metadataField = nested(metadata);

const NEW_STREAM_FIELDS: Fields<NewStream> = [
  [TAG_LENGTH_1, "methodName", ascii],
  [TAG_LENGTH_2, "requestHeaders", metadataField],
  [TAG_VARINT_3, "initialWindowSize", uint32],
  [TAG_VARINT_4, "protocolRevision", int32],
];

// `details` (field 3) is not read: a status with details goes through fromBinary.
const STATUS_FIELDS: Fields<Status> = [
  [TAG_VARINT_1, "code", int32],
  [TAG_LENGTH_2, "message", ascii],
];

const CLOSE_STREAM_FIELDS: Fields<CloseStream> = [
  [TAG_LENGTH_1, "responseTrailers", metadataField],
  [TAG_LENGTH_2, "status", nested(statusOf)],
];

/** The bytes of a length-delimited field, as a view, unchecked. */
function view(reader: Varints, end: number): Uint8Array | undefined {
  const stop = lengthEnd(reader, end);
  if (stop === undefined) {
    return undefined;
  }
  const bytes = reader.bytes.subarray(reader.pos, stop);
  reader.pos = stop;
  return bytes;
}

const DEFERRED_NEW_STREAM_FIELDS: Fields<DeferredNewStream> = [
  [TAG_LENGTH_1, "methodName", ascii],
  [TAG_LENGTH_2, "headersView", view],
  [TAG_VARINT_3, "initialWindowSize", uint32],
  [TAG_VARINT_4, "protocolRevision", int32],
];

function newStream(reader: Varints, end: number, fields: Fields<DeferredNewStream>): NewStream | undefined {
  const out: DeferredNewStream = { $typeName: "grpctunnel.v1.NewStream", methodName: "", initialWindowSize: 0, protocolRevision: 0 };
  return message(reader, end, out, fields);
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
  const reader = new Varints(bytes);
  return metadata(reader, bytes.length) ?? fromBinary(MetadataSchema, bytes);
}

function closeStream(reader: Varints, end: number): CloseStream | undefined {
  return message<CloseStream>(reader, end, { $typeName: "grpctunnel.v1.CloseStream" }, CLOSE_STREAM_FIELDS);
}

function statusOf(reader: Varints, end: number): Status | undefined {
  return message<Status>(reader, end, { $typeName: "google.rpc.Status", code: 0, message: "", details: [] }, STATUS_FIELDS);
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
