import type { ClientToServer, Metadata as ProtoMetadata, ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { HTTP2_DEFAULT_WINDOW_BYTES } from "./limits.js";

/*
 * What things cost in memory, as charged to memory budgets. Each figure was
 * measured on Node 20 (heap plus array buffers after a forced GC, for
 * 20,000–100,000 objects at once) and rounded up; the attack tests in
 * runtime/test/memory check that what is charged bounds what the process
 * really holds.
 */

/** A tunnel on the network server: the engine, grpc-js's call objects, the HTTP/2 stream (measured ~7.5 KiB). */
export const TUNNEL_BYTES = 16 * 1024;

/**
 * One stream served with a typed handler: the stream, its queue and sender,
 * the handler's suspended functions (measured 2.6–3.5 KiB for the four
 * method kinds).
 */
export const STREAM_BYTES = 4 * 1024;

/** What a grpc-js style handler's call objects add to a stream (measured 3.9 KiB in all for unary, 9.4 KiB for bidi). */
export const GRPC_JS_CALL_BYTES = 6 * 1024;

/** A received chunk waiting for its reader, besides its bytes: the queue entry and the byte array object. */
export const CHUNK_BYTES = 256;

/**
 * A frame waiting in the transport, besides its payload: the frame objects
 * and the transport's queue entry (measured 170 B for a window update, 320 B
 * for headers, 620 B for a close with a short status message).
 */
export const FRAME_BYTES = 640;

/**
 * What the transport still holds of a tunnel whose reading is paused: the
 * HTTP/2 stream's window, which Node buffers unread (HTTP/2's default
 * counted as 64 KiB), and the rest of the DATA frame grpc-js was decoding
 * (16 KiB). See transport/grpc-conn.ts.
 */
export function pausedReadAheadBytes(streamWindowBytes: number): number {
  return Math.max(streamWindowBytes, 64 * 1024) + 16 * 1024;
}

/** The same under HTTP/2's default window, where nothing widened it. */
export const PAUSED_READ_AHEAD_BYTES = pausedReadAheadBytes(HTTP2_DEFAULT_WINDOW_BYTES);

/** A decoded grpc-js `Metadata` object without entries (measured ~340 B). */
export const METADATA_BYTES = 384;

/**
 * One decoded text entry, besides its key and value bytes: the strings'
 * headers, the value array, the map entry (measured ~105 B + strings). The
 * `maxMetadataBytes` limit counts only 32 per entry, as HTTP/2 does.
 */
export const METADATA_ENTRY_BYTES = 144;

/** One decoded `-bin` entry, whose value is a Buffer (measured ~205 B + strings). */
export const METADATA_BINARY_ENTRY_BYTES = 240;

/**
 * The memory decoded metadata holds, computed from its wire form. A string
 * takes at most 2 bytes per UTF-16 unit in V8; a `-bin` value decodes to at
 * most 3 bytes per unit (its UTF-8). Counting units is cheaper than
 * measuring UTF-8 and never less than what is held.
 */
export function metadataBytes(proto: ProtoMetadata | undefined): number {
  let bytes = METADATA_BYTES;
  if (proto === undefined) {
    return bytes;
  }
  for (const key in proto.md) {
    const binary = key.endsWith("-bin");
    const entry = (binary ? METADATA_BINARY_ENTRY_BYTES : METADATA_ENTRY_BYTES) + 2 * key.length;
    const perUnit = binary ? 3 : 2;
    for (const value of proto.md[key].val) {
      bytes += entry + perUnit * value.length;
    }
  }
  return bytes;
}

/** What a frame holds until the transport has sent it. */
export function frameBytes(frame: ClientToServer | ServerToClient): number {
  const body = frame.frame;
  switch (body.case) {
    case "requestMessage":
    case "responseMessage":
      return FRAME_BYTES + body.value.data.length;
    case "moreRequestData":
    case "moreResponseData":
      return FRAME_BYTES + body.value.length;
    case "newStream":
      return FRAME_BYTES + body.value.methodName.length + metadataBytes(body.value.requestHeaders);
    case "responseHeaders":
      return FRAME_BYTES + metadataBytes(body.value);
    case "closeStream": {
      const status = body.value.status;
      let bytes = FRAME_BYTES + metadataBytes(body.value.responseTrailers);
      if (status !== undefined) {
        bytes += status.message.length;
        for (const detail of status.details) {
          bytes += FRAME_BYTES + detail.typeUrl.length + detail.value.length;
        }
      }
      return bytes;
    }
    default:
      return FRAME_BYTES;
  }
}
