import type { Status } from "../gen/google/rpc/status_pb.js";
import type { ClientToServer, CloseStream, Metadata, NewStream, ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
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

/** `new_stream`, `half_close` or `cancel` as protobuf-es encodes them; undefined outside the fast path. */
export function encodeClientControl(frame: ClientToServer): Buffer | undefined {
  const body = frame.frame;
  switch (body.case) {
    case "newStream": {
      const plan = newStreamPlan(body.value);
      return plan && framed(frame.streamId, TAG_LENGTH_2, plan);
    }
    case "halfClose":
    case "cancel":
      return hasUnknown(body.value) ? undefined : framed(frame.streamId, body.case === "halfClose" ? TAG_LENGTH_5 : TAG_LENGTH_6, EMPTY);
    default:
      return undefined;
  }
}

/** Response headers or `close_stream` as protobuf-es encodes them; undefined outside the fast path. */
export function encodeServerControl(frame: ServerToClient): Buffer | undefined {
  const body = frame.frame;
  switch (body.case) {
    case "responseHeaders": {
      const plan = metadataPlan(body.value);
      return plan && framed(frame.streamId, TAG_LENGTH_2, plan);
    }
    case "closeStream": {
      const plan = closeStreamPlan(body.value);
      return plan && framed(frame.streamId, TAG_LENGTH_5, plan);
    }
    default:
      return undefined;
  }
}

/** A message to write: its encoded size, and how to write it at a position (returning the next). */
interface Plan {
  size: number;
  write(out: Buffer, pos: number): number;
}

const EMPTY: Plan = { size: 0, write: (_out, pos) => pos };

/** `{stream_id, <tag>: plan}`; undefined for a stream ID that is not a positive safe integer. */
function framed(streamId: bigint, tag: number, plan: Plan): Buffer | undefined {
  if (streamId <= 0n || streamId > BigInt(Number.MAX_SAFE_INTEGER)) {
    return undefined;
  }
  const id = Number(streamId);
  const out = Buffer.allocUnsafe(1 + varintSize(id) + 1 + varintSize(plan.size) + plan.size);
  out[0] = TAG_STREAM_ID;
  let pos = writeVarint(out, 1, id);
  out[pos++] = tag;
  pos = writeVarint(out, pos, plan.size);
  plan.write(out, pos);
  return out;
}

/** A length-delimited field holding `plan`, as a plan. */
function field(tag: number, plan: Plan): Plan {
  return {
    size: 1 + varintSize(plan.size) + plan.size,
    write(out, pos) {
      out[pos++] = tag;
      pos = writeVarint(out, pos, plan.size);
      return plan.write(out, pos);
    },
  };
}

/** A string field (written even when empty, as list items and map keys are). */
function text(tag: number, value: string): Plan {
  const bytes = Buffer.byteLength(value, "utf8");
  return {
    size: 1 + varintSize(bytes) + bytes,
    write(out, pos) {
      out[pos++] = tag;
      pos = writeVarint(out, pos, bytes);
      return pos + out.write(value, pos, "utf8");
    },
  };
}

/** A varint field of a non-negative safe integer. */
function varint(tag: number, value: number): Plan {
  return {
    size: 1 + varintSize(value),
    write(out, pos) {
      out[pos++] = tag;
      return writeVarint(out, pos, value);
    },
  };
}

/** Fields in order, as one plan. */
function sequence(parts: Plan[]): Plan {
  let size = 0;
  for (const part of parts) {
    size += part.size;
  }
  return {
    size,
    write(out, pos) {
      for (const part of parts) {
        pos = part.write(out, pos);
      }
      return pos;
    },
  };
}

function hasUnknown(message: { $unknown?: unknown[] }): boolean {
  return (message.$unknown?.length ?? 0) > 0;
}

/** A message field with explicit presence is written when set as an own property (protobuf-es's rule). */
function isSet<T extends object, K extends keyof T>(message: T, key: K): boolean {
  return message[key] !== undefined && Object.hasOwn(message, key);
}

/** `Metadata{md: map<string, Values{repeated string val}>}`, entries in the record's key order. */
function metadataPlan(metadata: Metadata): Plan | undefined {
  if (hasUnknown(metadata)) {
    return undefined;
  }
  const entries: Plan[] = [];
  const md = metadata.md;
  for (const key of Object.keys(md)) {
    const values = md[key]!;
    if (hasUnknown(values)) {
      return undefined;
    }
    const value = sequence(values.val.map((v) => text(TAG_LENGTH_1, v)));
    entries.push(field(TAG_LENGTH_1, sequence([text(TAG_LENGTH_1, key), field(TAG_LENGTH_2, value)])));
  }
  return sequence(entries);
}

function newStreamPlan(newStream: NewStream): Plan | undefined {
  const { methodName, initialWindowSize, protocolRevision } = newStream;
  if (hasUnknown(newStream) || !isUint32(initialWindowSize) || !isInt32AtLeast0(protocolRevision)) {
    return undefined;
  }
  const parts: Plan[] = [];
  if (methodName !== "") {
    parts.push(text(TAG_LENGTH_1, methodName));
  }
  if (isSet(newStream, "requestHeaders")) {
    const headers = metadataPlan(newStream.requestHeaders!);
    if (headers === undefined) {
      return undefined;
    }
    parts.push(field(TAG_LENGTH_2, headers));
  }
  if (initialWindowSize !== 0) {
    parts.push(varint(TAG_VARINT_3, initialWindowSize));
  }
  if (protocolRevision !== 0) {
    parts.push(varint(TAG_VARINT_4, protocolRevision));
  }
  return sequence(parts);
}

function closeStreamPlan(close: CloseStream): Plan | undefined {
  if (hasUnknown(close)) {
    return undefined;
  }
  const parts: Plan[] = [];
  if (isSet(close, "responseTrailers")) {
    const trailers = metadataPlan(close.responseTrailers!);
    if (trailers === undefined) {
      return undefined;
    }
    parts.push(field(TAG_LENGTH_1, trailers));
  }
  if (isSet(close, "status")) {
    const status = statusPlan(close.status!);
    if (status === undefined) {
      return undefined;
    }
    parts.push(field(TAG_LENGTH_2, status));
  }
  return sequence(parts);
}

/** `google.rpc.Status` without details (those go through toBinary). */
function statusPlan(status: Status): Plan | undefined {
  if (hasUnknown(status) || status.details.length > 0 || !isInt32AtLeast0(status.code)) {
    return undefined;
  }
  const parts: Plan[] = [];
  if (status.code !== 0) {
    parts.push(varint(TAG_VARINT_1, status.code));
  }
  if (status.message !== "") {
    parts.push(text(TAG_LENGTH_2, status.message));
  }
  return sequence(parts);
}

function isUint32(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_UINT32;
}

/** Enums and int32 fields: negative ones are ten bytes on the wire, left to toBinary. */
function isInt32AtLeast0(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= MAX_INT32;
}
