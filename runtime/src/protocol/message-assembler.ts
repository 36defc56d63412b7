/**
 * Reassembles one message from its chunks. Memory grows with the bytes
 * received, never with the size the peer declared (a peer may announce
 * 4 MiB and send one byte): the chunks are kept as they arrive and copied
 * once, into a buffer of the final size, when the last one is in. A message
 * that arrives in one chunk is returned as is, without copying.
 */
export class MessageAssembler {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private filled = 0;

  /** Starts a message; returns it at once when `first` holds all of it. */
  start(size: number, first: Uint8Array): Uint8Array | undefined {
    if (first.length === size) {
      return first;
    }
    this.size = size;
    this.chunks = [first];
    this.filled = first.length;
    return undefined;
  }

  /** Adds a continuation chunk; returns the message once it is complete. */
  append(chunk: Uint8Array): Uint8Array | undefined {
    if (this.chunks.length === 0) {
      return undefined;
    }
    this.chunks.push(chunk);
    this.filled += chunk.length;
    if (this.filled < this.size) {
      return undefined;
    }
    // A plain Uint8Array like every protobuf-es bytes value, over memory of
    // its own (never Node's shared pool) and not zero-filled: every byte is
    // written below.
    const memory = Buffer.allocUnsafeSlow(this.size);
    const message = new Uint8Array(memory.buffer, memory.byteOffset, this.size);
    let offset = 0;
    for (const part of this.chunks) {
      message.set(part, offset);
      offset += part.length;
    }
    this.chunks = [];
    return message;
  }
}
