// Protobuf wire primitives shared by the hand-written frame codecs
// (frame-codec.ts, control-frame-codec.ts, control-frame-decode.ts): field
// tags, varints, and the start every tunnel frame has.

/** Field tags: the field number shifted left by 3, or'ed with the wire type (0 varint, 2 length-delimited). */
export const TAG_VARINT_1 = 0x08;
export const TAG_LENGTH_1 = 0x0a;
export const TAG_LENGTH_2 = 0x12;
export const TAG_VARINT_3 = 0x18;
export const TAG_VARINT_4 = 0x20;
export const TAG_LENGTH_5 = 0x2a;
export const TAG_LENGTH_6 = 0x32;
/** ClientToServer / ServerToClient field 1: every frame starts with it. */
export const TAG_STREAM_ID = TAG_VARINT_1;

/** The largest uint32 and int32: what the codecs' fast paths take for those fields (enums are int32). */
export const MAX_UINT32 = 0xffff_ffff;
export const MAX_INT32 = 0x7fff_ffff;

/** Bytes of a non-negative safe integer as a protobuf varint. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** Writes a non-negative safe integer as a varint at `pos`; returns the position after it. */
export function writeVarint(out: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    out[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Reads varints of at most `maxBytes` bytes; undefined when longer or truncated. */
export class Varints {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  varint(maxBytes: number): number | undefined {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < maxBytes; i++) {
      const byte = this.bytes[this.pos++];
      // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent: a missing byte adds 0 and is not < 0x80, so the loop runs out and returns undefined too
      if (byte === undefined) {
        return undefined;
      }
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        return value;
      }
      scale *= 128;
    }
    return undefined;
  }
}

/**
 * A frame's reader just past its start (see readFrameStart): one object
 * per frame decoded, its stream ID and the tag of the field after it.
 */
export class FrameStart extends Varints {
  streamId = 0n;
  tag = 0;
}

/**
 * The start of a frame in canonical encoding: the stream ID (positive, at
 * most 7 varint bytes, i.e. below 2^49 and exact in a double) and the tag of
 * the field after it, the reader just past that tag; undefined otherwise.
 */
export function readFrameStart(bytes: Uint8Array): FrameStart | undefined {
  if (bytes[0] !== TAG_STREAM_ID) {
    return undefined;
  }
  const start = new FrameStart(bytes);
  start.pos = 1;
  const id = start.varint(7);
  // Stryker disable next-line ConditionalExpression: equivalent: a stream ID of 0 decodes the same on the fast path as with fromBinary (0n)
  if (id === undefined || id === 0) {
    return undefined;
  }
  const tag = bytes[start.pos++];
  // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent: an undefined tag matches none of the fast paths' tags, which then return undefined
  if (tag === undefined) {
    return undefined;
  }
  start.streamId = BigInt(id);
  start.tag = tag;
  return start;
}
