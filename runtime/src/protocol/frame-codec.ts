import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ClientToServerSchema, ServerToClientSchema, type ClientToServer, type ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { encodeClientControl, encodeServerControl } from "./control-frame-codec.js";
import { decodeClientControl, decodeServerControl } from "./control-frame-decode.js";
import { FRAME_HEADROOM, hasHeadroom, takeHeadroom } from "./headroom.js";
import { type FrameStart, MAX_UINT32, readFrameStart, TAG_STREAM_ID, varintSize, writeVarint } from "./wire.js";

// Message data frames carry nearly every byte of a tunnel (the control
// frames of a call have their own encoder, control-frame-codec.ts). protobuf-es's
// general writer grows and copies its buffer several times for a 16 KiB
// bytes field; these frames are encoded here in one pass into a buffer of the
// exact size instead (one copy of the data), or, for a message sent whole
// that the runtime serialized with headroom (headroom.ts), in place in front
// of it (no copy). Every other frame, and any value outside the fast path,
// goes through toBinary. Tests check all paths give identical bytes.
//
// Decoding is the mirror image: data frames and window updates in their
// canonical encoding (what this library and Go write) are parsed here
// directly, their bytes a view of the received buffer, as fromBinary gives;
// anything else goes through fromBinary. Tests check both give equal frames.

const TAG_MESSAGE_DATA = 0x1a; // field 3, length-delimited (request_message / response_message)
const TAG_MORE_DATA = 0x22; // field 4, length-delimited (more_request_data / more_response_data)
const TAG_WINDOW_UPDATE = 0x38; // field 7, varint
const TAG_SIZE = 0x08; // MessageData.size, field 1
const TAG_DATA = 0x12; // MessageData.data, field 2

/**
 * Encodes a ClientToServer frame. A data frame goes into `into` when it
 * fits (the result is then a view of it), else into a buffer of its own.
 */
export function encodeClientToServer(frame: ClientToServer, into?: Buffer): Buffer {
  const body = frame.frame;
  // Stryker disable next-line BlockStatement: equivalent: toBinary writes the same bytes (the fast path only saves time)
  if (body.case === "windowUpdate") {
    const fast = encodeWindowUpdate(frame.streamId, body.value);
    // Stryker disable next-line BlockStatement: equivalent: toBinary writes the same bytes (the fast path only saves time)
    if (fast !== undefined) {
      return fast;
    }
  } else if (body.case === "requestMessage" || body.case === "moreRequestData") {
    const fast = encodeDataFrame(
      frame.streamId,
      body.case === "requestMessage" ? body.value : undefined,
      body.case === "moreRequestData" ? body.value : undefined,
      into,
    );
    if (fast !== undefined) {
      return fast;
    }
    // Stryker disable next-line BlockStatement: equivalent: toBinary writes the same bytes (the fast path only saves time)
  } else {
    const fast = encodeClientControl(frame);
    // Stryker disable next-line BlockStatement: equivalent: toBinary writes the same bytes (the fast path only saves time)
    if (fast !== undefined) {
      return fast;
    }
  }
  return asBuffer(toBinary(ClientToServerSchema, frame));
}

/** Encodes a ServerToClient frame; `into` as for encodeClientToServer. */
export function encodeServerToClient(frame: ServerToClient, into?: Buffer): Buffer {
  const body = frame.frame;
  // Stryker disable next-line BlockStatement: equivalent: toBinary writes the same bytes (the fast path only saves time)
  if (body.case === "windowUpdate") {
    const fast = encodeWindowUpdate(frame.streamId, body.value);
    // Stryker disable next-line BlockStatement: equivalent: toBinary writes the same bytes (the fast path only saves time)
    if (fast !== undefined) {
      return fast;
    }
  } else if (body.case === "responseMessage" || body.case === "moreResponseData") {
    const fast = encodeDataFrame(
      frame.streamId,
      body.case === "responseMessage" ? body.value : undefined,
      body.case === "moreResponseData" ? body.value : undefined,
      into,
    );
    if (fast !== undefined) {
      return fast;
    }
    // Stryker disable next-line BlockStatement: equivalent: toBinary writes the same bytes (the fast path only saves time)
  } else {
    const fast = encodeServerControl(frame);
    // Stryker disable next-line BlockStatement: equivalent: toBinary writes the same bytes (the fast path only saves time)
    if (fast !== undefined) {
      return fast;
    }
  }
  return asBuffer(toBinary(ServerToClientSchema, frame));
}

/**
 * Encodes `{stream_id, message_data{size, data}}` or `{stream_id,
 * more_data}`; undefined when a value is outside the fast path (a stream ID
 * that is not a positive safe integer, unknown fields to preserve).
 */
function encodeDataFrame(
  streamId: bigint,
  envelope: { size: number; data: Uint8Array; $unknown?: unknown[] } | undefined,
  more: Uint8Array | undefined,
  into: Buffer | undefined,
): Buffer | undefined {
  if (streamId <= 0n || streamId > BigInt(Number.MAX_SAFE_INTEGER) || (envelope?.$unknown?.length ?? 0) > 0) {
    return undefined;
  }
  const id = Number(streamId);
  const data = envelope !== undefined ? envelope.data : more!;
  // Length of the MessageData sub-message (envelope) or of the bytes (more).
  const inner =
    envelope !== undefined
      ? (envelope.size > 0 ? 1 + varintSize(envelope.size) : 0) + (data.length > 0 ? 1 + varintSize(data.length) + data.length : 0)
      : data.length;
  const length = 1 + varintSize(id) + 1 + varintSize(inner) + inner;
  // Data with headroom (a message sent whole) becomes the frame in place: the header goes in the free bytes before it.
  const inPlace = length - data.length <= FRAME_HEADROOM && takeHeadroom(data);
  const out = inPlace
    ? Buffer.from(data.buffer, data.byteOffset - (length - data.length), length)
    : into !== undefined && into.length >= length
      ? into.subarray(0, length)
      : Buffer.allocUnsafe(length);
  let pos = 0;
  out[pos++] = TAG_STREAM_ID;
  pos = writeVarint(out, pos, id);
  out[pos++] = envelope !== undefined ? TAG_MESSAGE_DATA : TAG_MORE_DATA;
  pos = writeVarint(out, pos, inner);
  if (envelope !== undefined) {
    if (envelope.size > 0) {
      out[pos++] = TAG_SIZE;
      pos = writeVarint(out, pos, envelope.size);
    }
    if (data.length > 0) {
      out[pos++] = TAG_DATA;
      pos = writeVarint(out, pos, data.length);
    }
  }
  if (!inPlace) {
    out.set(data, pos);
  }
  return out;
}

/**
 * The most bytes `frame` encodes to if it is a data frame that needs a
 * buffer to be encoded into; 0 for any other frame, and for data with
 * headroom (encoded in place).
 */
export function dataFrameBound(frame: ClientToServer | ServerToClient): number {
  const body = frame.frame;
  let data: Uint8Array;
  switch (body.case) {
    case "requestMessage":
    case "responseMessage":
      data = body.value.data;
      break;
    case "moreRequestData":
    case "moreResponseData":
      data = body.value;
      break;
    default:
      return 0;
  }
  // FRAME_HEADROOM: the most a data frame's header (stream ID, tags, lengths, size) takes.
  return hasHeadroom(data) ? 0 : FRAME_HEADROOM + data.length;
}

/** `{stream_id, window_update}` (two per window of data); undefined outside the fast path. */
function encodeWindowUpdate(streamId: bigint, credit: number): Buffer | undefined {
  if (streamId <= 0n || streamId > BigInt(Number.MAX_SAFE_INTEGER) || !Number.isInteger(credit) || credit < 0 || credit > MAX_UINT32) {
    return undefined;
  }
  const id = Number(streamId);
  const out = Buffer.allocUnsafe(2 + varintSize(id) + varintSize(credit));
  out[0] = TAG_STREAM_ID;
  const pos = writeVarint(out, 1, id);
  out[pos] = TAG_WINDOW_UPDATE;
  writeVarint(out, pos + 1, credit);
  return out;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Decodes a ClientToServer frame; throws like fromBinary on malformed input. */
export function decodeClientToServer(bytes: Uint8Array): ClientToServer {
  return decodeClientFrame(bytes, false);
}

/**
 * `decodeClientToServer`, leaving a `new_stream`'s request headers
 * undecoded when it can (see DeferredNewStream): what a tunnel server
 * receives, so that a stream refused for a limit costs no decoding.
 */
export function decodeClientToServerDeferringHeaders(bytes: Uint8Array): ClientToServer {
  return decodeClientFrame(bytes, true);
}

function decodeClientFrame(bytes: Uint8Array, deferHeaders: boolean): ClientToServer {
  // The frame's start is read once; its tag says which fast path can take it.
  const start = readFrameStart(bytes);
  const fast =
    start === undefined
      ? undefined
      : isDataTag(start.tag)
        ? decodeDataFrame(bytes, start, "grpctunnel.v1.ClientToServer", "requestMessage", "moreRequestData")
        : decodeClientControl(bytes, deferHeaders, start);
  return fast === undefined ? fromBinary(ClientToServerSchema, bytes) : (fast as ClientToServer);
}

/** Decodes a ServerToClient frame; throws like fromBinary on malformed input. */
export function decodeServerToClient(bytes: Uint8Array): ServerToClient {
  const start = readFrameStart(bytes);
  const fast =
    start === undefined
      ? undefined
      : isDataTag(start.tag)
        ? decodeDataFrame(bytes, start, "grpctunnel.v1.ServerToClient", "responseMessage", "moreResponseData")
        : decodeServerControl(bytes, start);
  return fast === undefined ? fromBinary(ServerToClientSchema, bytes) : (fast as ServerToClient);
}

/** The tags decodeDataFrame takes: message data, more data, window update. */
function isDataTag(tag: number): boolean {
  return tag === TAG_MESSAGE_DATA || tag === TAG_MORE_DATA || tag === TAG_WINDOW_UPDATE;
}

/**
 * `{stream_id, message_data{size?, data?}}`, `{stream_id, more_data}` or
 * `{stream_id, window_update}`, each field once and in field order, stream
 * ID a positive safe integer; undefined for anything else (fromBinary then
 * decides, with protobuf's full rules).
 */
function decodeDataFrame(
  bytes: Uint8Array,
  reader: FrameStart,
  typeName: string,
  envelopeCase: string,
  moreCase: string,
): object | undefined {
  const { streamId, tag } = reader;
  const value = reader.varint(5);
  if (value === undefined) {
    return undefined;
  }
  // Stryker disable next-line BlockStatement: equivalent: fromBinary gives the same frame (the fast path only saves time)
  if (tag === TAG_WINDOW_UPDATE) {
    return reader.pos === bytes.length && value <= MAX_UINT32
      ? { $typeName: typeName, streamId, frame: { case: "windowUpdate", value } }
      : undefined;
  }
  // Stryker disable next-line ArithmeticOperator: equivalent: with `-` only an empty value at the frame's end passes, as it does with `+`
  if (reader.pos + value !== bytes.length) {
    return undefined;
  }
  // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent: fromBinary gives the same frame (the fast path only saves time)
  if (tag === TAG_MORE_DATA) {
    return { $typeName: typeName, streamId, frame: { case: moreCase, value: bytes.subarray(reader.pos) } };
  }
  // Stryker disable next-line ConditionalExpression,EqualityOperator,BlockStatement: equivalent: only the three data tags come here (isDataTag)
  if (tag !== TAG_MESSAGE_DATA) {
    return undefined;
  }
  let size = 0;
  let data = bytes.subarray(bytes.length); // empty, as fromBinary gives for an absent bytes field
  // Stryker disable next-line BlockStatement: equivalent: fromBinary gives the same frame (the fast path only saves time)
  if (bytes[reader.pos] === TAG_SIZE) {
    // Stryker disable next-line UpdateOperator: equivalent: fromBinary gives the same frame (the fast path only saves time)
    reader.pos++;
    const parsed = reader.varint(5);
    if (parsed === undefined || parsed > MAX_UINT32) {
      return undefined;
    }
    size = parsed;
  }
  // Stryker disable next-line BlockStatement: equivalent: fromBinary gives the same frame (the fast path only saves time)
  if (bytes[reader.pos] === TAG_DATA) {
    reader.pos++;
    const length = reader.varint(5);
    if (length === undefined || reader.pos + length !== bytes.length) {
      return undefined;
    }
    data = bytes.subarray(reader.pos);
    reader.pos = bytes.length;
  }
  if (reader.pos !== bytes.length) {
    return undefined;
  }
  const envelope = { $typeName: "grpctunnel.v1.MessageData", size, data };
  return { $typeName: typeName, streamId, frame: { case: envelopeCase, value: envelope } };
}
