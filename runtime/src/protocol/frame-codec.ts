import { toBinary } from "@bufbuild/protobuf";
import {
  ClientToServerSchema,
  ServerToClientSchema,
  type ClientToServer,
  type ServerToClient,
} from "../gen/grpctunnel/v1/tunnel_pb.js";

// Message data frames carry nearly every byte of a tunnel. protobuf-es's
// general writer grows and copies its buffer several times for a 16 KiB
// bytes field; these frames are encoded here in one pass into a buffer of the
// exact size instead (one copy of the data). Every other frame, and any value
// outside the fast path, goes through toBinary. Tests check both paths give
// identical bytes.

const TAG_STREAM_ID = 0x08; // field 1, varint
const TAG_MESSAGE_DATA = 0x1a; // field 3, length-delimited (request_message / response_message)
const TAG_MORE_DATA = 0x22; // field 4, length-delimited (more_request_data / more_response_data)
const TAG_SIZE = 0x08; // MessageData.size, field 1
const TAG_DATA = 0x12; // MessageData.data, field 2

export function encodeClientToServer(frame: ClientToServer): Buffer {
  const body = frame.frame;
  if (body.case === "requestMessage" || body.case === "moreRequestData") {
    const fast = encodeDataFrame(frame.streamId, body.case === "requestMessage" ? body.value : undefined, body.case === "moreRequestData" ? body.value : undefined);
    if (fast !== undefined) {
      return fast;
    }
  }
  return asBuffer(toBinary(ClientToServerSchema, frame));
}

export function encodeServerToClient(frame: ServerToClient): Buffer {
  const body = frame.frame;
  if (body.case === "responseMessage" || body.case === "moreResponseData") {
    const fast = encodeDataFrame(frame.streamId, body.case === "responseMessage" ? body.value : undefined, body.case === "moreResponseData" ? body.value : undefined);
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
  const out = Buffer.allocUnsafe(1 + varintSize(id) + 1 + varintSize(inner) + inner);
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
  out.set(data, pos);
  return out;
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeVarint(out: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
