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
