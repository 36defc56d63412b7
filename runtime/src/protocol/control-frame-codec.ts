import type { Status } from "../gen/google/rpc/status_pb.js";
import type { ClientToServer, CloseStream, Metadata, Metadata_Values, NewStream, ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import {
  MAX_INT32,
  MAX_UINT32,
  TAG_LENGTH_1,
  TAG_LENGTH_2,
  TAG_LENGTH_5,
  TAG_LENGTH_6,
  TAG_STREAM_ID,
  TAG_VARINT_1,
  TAG_VARINT_3,
  TAG_VARINT_4,
  varintSize,
  writeVarint,
} from "./wire.js";

// Every call sends four control frames (new_stream, half_close; headers,
// close_stream) besides its messages, and a relayed call sends them twice.
// protobuf-es's general writer costs more than all the rest of a small
// call's encoding; these are written here in one pass into a buffer of the
// exact size instead. Anything outside the common shapes (status details,
// unknown fields, values out of range) returns undefined and goes through
// toBinary. Tests check both paths give identical bytes.
//
// Each frame is measured first (sizes, -1 outside the fast path), then
// written in one pass by code of the same shape: no objects or closures per
// field (they cost more than the writing).

/** `new_stream`, `half_close` or `cancel` as protobuf-es encodes them; undefined outside the fast path. */
export function encodeClientControl(frame: ClientToServer): Buffer | undefined {
  const body = frame.frame;
  switch (body.case) {
    case "newStream": {
      const size = newStreamSize(body.value);
      const out = size < 0 ? undefined : startFrame(frame.streamId, TAG_LENGTH_2, size);
      if (out !== undefined) {
        writeNewStream(out, out.length - size, body.value);
      }
      return out;
    }
    // Stryker disable next-line ConditionalExpression: equivalent: toBinary writes the same bytes (the fast path only saves time)
    case "halfClose":
    case "cancel":
      return hasUnknown(body.value) ? undefined : startFrame(frame.streamId, body.case === "halfClose" ? TAG_LENGTH_5 : TAG_LENGTH_6, 0);
    default:
      return undefined;
  }
}

/** Response headers or `close_stream` as protobuf-es encodes them; undefined outside the fast path. */
export function encodeServerControl(frame: ServerToClient): Buffer | undefined {
  const body = frame.frame;
  switch (body.case) {
    case "responseHeaders": {
      const size = metadataSize(body.value);
      const out = size < 0 ? undefined : startFrame(frame.streamId, TAG_LENGTH_2, size);
      if (out !== undefined) {
        writeMetadata(out, out.length - size, body.value);
      }
      return out;
    }
    case "closeStream": {
      const size = closeStreamSize(body.value);
      const out = size < 0 ? undefined : startFrame(frame.streamId, TAG_LENGTH_5, size);
      if (out !== undefined) {
        writeCloseStream(out, out.length - size, body.value);
      }
      return out;
    }
    default:
      return undefined;
  }
}

const MAX_STREAM_ID = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * A buffer for `{stream_id, <tag>: <body of bodySize bytes>}` with all but
 * the body written (it is the buffer's last bodySize bytes); undefined for a
 * stream ID that is not a positive safe integer.
 */
function startFrame(streamId: bigint, tag: number, bodySize: number): Buffer | undefined {
  if (streamId <= 0n || streamId > MAX_STREAM_ID) {
    return undefined;
  }
  const id = Number(streamId);
  const out = Buffer.allocUnsafe(1 + varintSize(id) + 1 + varintSize(bodySize) + bodySize);
  out[0] = TAG_STREAM_ID;
  let pos = writeVarint(out, 1, id);
  out[pos++] = tag;
  writeVarint(out, pos, bodySize);
  return out;
}

/** Bytes of a length-delimited field (tag, length, body) whose body has `size` bytes. */
function fieldSize(size: number): number {
  return 1 + varintSize(size) + size;
}

/** Writes a field's tag and length; returns where its body goes. */
function writeFieldHead(out: Buffer, pos: number, tag: number, size: number): number {
  out[pos++] = tag;
  return writeVarint(out, pos, size);
}

/** A string field, written even when empty (as list items and map keys are). */
function writeText(out: Buffer, pos: number, tag: number, value: string): number {
  pos = writeFieldHead(out, pos, tag, Buffer.byteLength(value, "utf8"));
  return pos + out.write(value, pos, "utf8");
}

function writeVarintField(out: Buffer, pos: number, tag: number, value: number): number {
  out[pos++] = tag;
  return writeVarint(out, pos, value);
}

function hasUnknown(message: { $unknown?: unknown[] }): boolean {
  return (message.$unknown?.length ?? 0) > 0;
}

/** A message field with explicit presence is written when set as an own property (protobuf-es's rule). */
function isSet<T extends object, K extends keyof T>(message: T, key: K): boolean {
  return message[key] !== undefined && Object.hasOwn(message, key);
}

/** `Values{repeated string val}`: the body's bytes. */
function valuesSize(values: Metadata_Values): number {
  let size = 0;
  for (const v of values.val) {
    size += fieldSize(Buffer.byteLength(v, "utf8"));
  }
  return size;
}

/** A map entry `{key, Values}`: the body's bytes. */
function entrySize(key: string, values: Metadata_Values): number {
  return fieldSize(Buffer.byteLength(key, "utf8")) + fieldSize(valuesSize(values));
}

/** `Metadata{md: map<string, Values>}`, entries in the record's key order: the body's bytes, -1 outside the fast path. */
function metadataSize(metadata: Metadata): number {
  if (hasUnknown(metadata)) {
    return -1;
  }
  const md = metadata.md;
  let size = 0;
  for (const key of Object.keys(md)) {
    const values = md[key]!;
    if (hasUnknown(values)) {
      return -1;
    }
    size += fieldSize(entrySize(key, values));
  }
  return size;
}

function writeMetadata(out: Buffer, pos: number, metadata: Metadata): number {
  const md = metadata.md;
  for (const key of Object.keys(md)) {
    const values = md[key]!;
    pos = writeFieldHead(out, pos, TAG_LENGTH_1, entrySize(key, values));
    pos = writeText(out, pos, TAG_LENGTH_1, key);
    pos = writeFieldHead(out, pos, TAG_LENGTH_2, valuesSize(values));
    for (const v of values.val) {
      pos = writeText(out, pos, TAG_LENGTH_1, v);
    }
  }
  return pos;
}

function newStreamSize(newStream: NewStream): number {
  const { methodName, initialWindowSize, protocolRevision } = newStream;
  if (hasUnknown(newStream) || !isUint32(initialWindowSize) || !isInt32AtLeast0(protocolRevision)) {
    return -1;
  }
  let size = methodName === "" ? 0 : fieldSize(Buffer.byteLength(methodName, "utf8"));
  if (isSet(newStream, "requestHeaders")) {
    const headers = metadataSize(newStream.requestHeaders!);
    if (headers < 0) {
      return -1;
    }
    size += fieldSize(headers);
  }
  if (initialWindowSize !== 0) {
    size += 1 + varintSize(initialWindowSize);
  }
  if (protocolRevision !== 0) {
    size += 1 + varintSize(protocolRevision);
  }
  return size;
}

function writeNewStream(out: Buffer, pos: number, newStream: NewStream): number {
  const { methodName, initialWindowSize, protocolRevision } = newStream;
  if (methodName !== "") {
    pos = writeText(out, pos, TAG_LENGTH_1, methodName);
  }
  if (isSet(newStream, "requestHeaders")) {
    const headers = newStream.requestHeaders!;
    pos = writeMetadata(out, writeFieldHead(out, pos, TAG_LENGTH_2, metadataSize(headers)), headers);
  }
  if (initialWindowSize !== 0) {
    pos = writeVarintField(out, pos, TAG_VARINT_3, initialWindowSize);
  }
  if (protocolRevision !== 0) {
    pos = writeVarintField(out, pos, TAG_VARINT_4, protocolRevision);
  }
  return pos;
}

function closeStreamSize(close: CloseStream): number {
  if (hasUnknown(close)) {
    return -1;
  }
  let size = 0;
  if (isSet(close, "responseTrailers")) {
    const trailers = metadataSize(close.responseTrailers!);
    if (trailers < 0) {
      return -1;
    }
    size += fieldSize(trailers);
  }
  if (isSet(close, "status")) {
    const status = statusSize(close.status!);
    if (status < 0) {
      return -1;
    }
    size += fieldSize(status);
  }
  return size;
}

function writeCloseStream(out: Buffer, pos: number, close: CloseStream): number {
  if (isSet(close, "responseTrailers")) {
    const trailers = close.responseTrailers!;
    pos = writeMetadata(out, writeFieldHead(out, pos, TAG_LENGTH_1, metadataSize(trailers)), trailers);
  }
  if (isSet(close, "status")) {
    const status = close.status!;
    pos = writeStatus(out, writeFieldHead(out, pos, TAG_LENGTH_2, statusSize(status)), status);
  }
  return pos;
}

/** `google.rpc.Status` without details (those go through toBinary): the body's bytes, -1 outside the fast path. */
function statusSize(status: Status): number {
  if (hasUnknown(status) || status.details.length > 0 || !isInt32AtLeast0(status.code)) {
    return -1;
  }
  let size = status.code === 0 ? 0 : 1 + varintSize(status.code);
  if (status.message !== "") {
    size += fieldSize(Buffer.byteLength(status.message, "utf8"));
  }
  return size;
}

function writeStatus(out: Buffer, pos: number, status: Status): number {
  if (status.code !== 0) {
    pos = writeVarintField(out, pos, TAG_VARINT_1, status.code);
  }
  if (status.message !== "") {
    pos = writeText(out, pos, TAG_LENGTH_2, status.message);
  }
  return pos;
}

function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_UINT32;
}

/** Enums and int32 fields: negative ones are ten bytes on the wire, left to toBinary. */
function isInt32AtLeast0(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_INT32;
}
