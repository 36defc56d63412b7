/**
 * The length of the next chunk of a message: at most `maxChunk`, at most
 * the bytes left, and at most the flow-control window when there is one.
 */
export function nextChunkLength(maxChunk: number, bytesLeft: number, window: number = Number.POSITIVE_INFINITY): number {
  return Math.min(maxChunk, bytesLeft, window);
}

/**
 * Checks the chunks of one direction of a stream as they arrive: an envelope
 * starts a message of `size` bytes, continuation chunks add to it, and no
 * message may overrun its size or be interrupted by a new envelope. Returns
 * a description of the violation, or undefined when the chunk is valid.
 */
export class ChunkSequence {
  /** Bytes still expected for the current message; -1 between messages. */
  private expected = -1;

  get midMessage(): boolean {
    return this.expected > 0;
  }

  envelope(size: number, chunkLength: number, what: string): string | undefined {
    if (this.expected > 0) {
      return `received ${what} message envelope before previous message finished (${this.expected} bytes missing)`;
    }
    if (chunkLength > size) {
      return `received more ${what} data than indicated by message envelope`;
    }
    this.expected = size - chunkLength;
    return undefined;
  }

  more(chunkLength: number, what: string): string | undefined {
    if (this.expected < 0) {
      return `never received envelope for ${what} message`;
    }
    if (chunkLength > this.expected) {
      return `received more ${what} data than indicated by message envelope`;
    }
    this.expected -= chunkLength;
    return undefined;
  }

  /** Call after a chunk was accepted: true when it completed a message. */
  completed(): boolean {
    if (this.expected === 0) {
      this.expected = -1;
      return true;
    }
    return false;
  }
}
