import { Code } from "../code.js";
import { TunnelError } from "../errors.js";

/**
 * gRPC's length-prefixed messages, the body format of Connect's gRPC
 * handlers: a flags byte (bit 0: compressed), a 4-byte big-endian length,
 * then the message.
 */
const PREFIX_BYTES = 5;
const COMPRESSED = 0b1;

/** Each message of `messages` as a gRPC body: prefix, then message (not copied). */
export async function* envelope(messages: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const message of messages) {
    const prefix = new Uint8Array(PREFIX_BYTES);
    new DataView(prefix.buffer).setUint32(1, message.byteLength);
    yield prefix;
    yield message;
  }
}

/**
 * The messages of a gRPC body, however it is chunked. Compressed messages
 * are refused: the requests we build never offer compression, so a handler
 * that compresses anyway is broken.
 */
export async function* unenvelope(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array = new Uint8Array(0);
  for await (const chunk of body) {
    pending = pending.byteLength === 0 ? chunk : concat(pending, chunk);
    while (pending.byteLength >= PREFIX_BYTES) {
      const view = new DataView(pending.buffer, pending.byteOffset, pending.byteLength);
      const end = PREFIX_BYTES + view.getUint32(1);
      if (pending.byteLength < end) {
        break;
      }
      if ((view.getUint8(0) & COMPRESSED) !== 0) {
        throw new TunnelError(Code.INTERNAL, "the Connect handler sent a compressed message, which was not negotiated");
      }
      yield pending.subarray(PREFIX_BYTES, end);
      pending = pending.subarray(end);
    }
  }
  if (pending.byteLength > 0) {
    throw new TunnelError(Code.INTERNAL, "the Connect handler's response ended in the middle of a message");
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array(a.byteLength + b.byteLength);
  joined.set(a);
  joined.set(b, a.byteLength);
  return joined;
}
