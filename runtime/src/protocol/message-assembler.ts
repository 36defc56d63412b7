/**
 * Reassembles one message from its chunks. Memory grows with the bytes
 * received, never with the size the peer declared (a peer may announce
 * 4 MiB and send one byte): chunks are kept as they arrive until half of the
 * message is in, and only then is a buffer of the final size allocated
 * (at most twice what arrived); the chunks so far are copied into it, later
 * ones go straight in. Every byte is copied once, and a message's buffer is
 * allocated once. A message that arrives in one chunk is returned as is.
 */
export class MessageAssembler {
  private size = 0;
  private filled = 0;
  /** Chunks received before the buffer exists. */
  private chunks: Uint8Array[] | undefined;
  private buffer: Uint8Array | undefined;

  /** Starts a message; returns it at once when `first` holds all of it. */
  start(size: number, first: Uint8Array): Uint8Array | undefined {
    if (first.length === size) {
      return first;
    }
    this.size = size;
    this.filled = 0;
    this.chunks = [];
    this.buffer = undefined;
    this.add(first);
    return undefined;
  }

  /** Adds a continuation chunk; returns the message once it is complete. */
  append(chunk: Uint8Array): Uint8Array | undefined {
    if (this.chunks === undefined && this.buffer === undefined) {
      return undefined;
    }
    this.add(chunk);
    if (this.filled < this.size) {
      return undefined;
    }
    // All of it is in, so the buffer exists: it was allocated once half was.
    const buffer = this.buffer;
    this.buffer = undefined;
    return buffer;
  }

  /** True once the buffer of the final size exists (half of the message arrived). */
  get allocated(): boolean {
    return this.buffer !== undefined;
  }

  private add(chunk: Uint8Array): void {
    if (this.buffer !== undefined) {
      this.buffer.set(chunk, this.filled);
      this.filled += chunk.length;
      return;
    }
    const chunks = this.chunks!;
    // A small view into a larger buffer would keep all of it alive while the
    // message is assembled: keep a copy instead (senders use large chunks;
    // only odd peers send many small ones).
    chunks.push(chunk.length * 2 < chunk.buffer.byteLength ? new Uint8Array(chunk) : chunk);
    this.filled += chunk.length;
    if (this.filled * 2 >= this.size) {
      // A plain Uint8Array like every protobuf-es bytes value, over memory of
      // its own (never Node's shared pool) and not zero-filled: every byte is
      // written before it is returned.
      const memory = Buffer.allocUnsafeSlow(this.size);
      const buffer = new Uint8Array(memory.buffer, memory.byteOffset, this.size);
      let offset = 0;
      for (const part of chunks) {
        buffer.set(part, offset);
        offset += part.length;
      }
      this.buffer = buffer;
      this.chunks = undefined;
    }
  }
}
