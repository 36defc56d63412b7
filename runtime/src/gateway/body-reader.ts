import type { Readable } from "node:stream";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";

/** An enveloped message: the flags byte and the message. */
export interface Envelope {
  readonly flags: number;
  readonly data: Uint8Array;
}

const HEADER_BYTES = 5;
const CLOSED = Symbol("closed");
const EMPTY = new Uint8Array(0);

/**
 * Reads a request body on demand: nothing is taken from the caller's
 * connection until asked for, so a slow agent leaves data in the caller's
 * flow-control window (HTTP/2) or TCP window (HTTP/1.1) instead of here.
 * What this holds at once is bounded by one message of at most `maxBytes`.
 */
export class BodyReader {
  private ended = false;
  /** Why the body failed: an error, or CLOSED when it closed before its end (the error is made only if a read needs it). */
  private failure: unknown;
  private waiter: (() => void) | undefined;

  constructor(
    private readonly body: Readable,
    private readonly maxBytes: number,
  ) {
    // One listener for the body's life (it also keeps the body paused: no
    // pause(), which HTTP/2 compatibility requests never recover from): a
    // 'readable' listener added again while less than a message is buffered
    // fires at once, which would spin.
    body.on("readable", () => this.wake());
    body.on("end", () => {
      this.ended = true;
      this.wake();
    });
    body.on("error", (e) => {
      this.failure ??= e;
      this.wake();
    });
    body.on("close", () => {
      this.failure ??= CLOSED; // every call's body closes: no error (and stack) made per call
      this.wake();
    });
  }

  /**
   * The next length-prefixed message (gRPC, gRPC-Web, Connect streaming),
   * or undefined at the end of the body. RESOURCE_EXHAUSTED for one over
   * `maxBytes`, INVALID_ARGUMENT for a body cut inside a message.
   */
  async envelope(): Promise<Envelope | undefined> {
    const header = await this.take(HEADER_BYTES, true);
    if (header === undefined) {
      return undefined;
    }
    const length = Buffer.from(header.buffer, header.byteOffset, HEADER_BYTES).readUInt32BE(1);
    if (length > this.maxBytes) {
      throw tooLarge(length, this.maxBytes);
    }
    const data = length === 0 ? EMPTY : await this.take(length, false);
    return { flags: header[0]!, data: data! };
  }

  /**
   * The next uncompressed request message of an enveloped body, or
   * undefined at its end. The gateway accepts no compression (it answers
   * `grpc-accept-encoding: identity`): a compressed message is UNIMPLEMENTED.
   */
  async message(): Promise<Uint8Array | undefined> {
    const next = await this.envelope();
    if (next === undefined || next.flags === 0) {
      return next?.data;
    }
    if (next.flags === 1) {
      throw new TunnelError(Code.UNIMPLEMENTED, "the gateway accepts only uncompressed messages (identity encoding)");
    }
    throw new TunnelError(Code.INVALID_ARGUMENT, `request message with unknown flags 0x${next.flags.toString(16)}`);
  }

  /** The whole body as one message (Connect unary), at most `maxBytes`. */
  async all(): Promise<Uint8Array> {
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const chunk = this.body.read() as Buffer | null;
      if (chunk !== null) {
        size += chunk.length;
        if (size > this.maxBytes) {
          throw tooLarge(size, this.maxBytes);
        }
        chunks.push(chunk);
        continue;
      }
      if (this.ended) {
        return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      }
      await this.readable();
    }
  }

  /** Exactly `n` bytes; undefined at a clean end before any of them when `mayEnd`. */
  private async take(n: number, mayEnd: boolean): Promise<Uint8Array | undefined> {
    for (;;) {
      const chunk = this.body.read(n) as Buffer | null;
      if (chunk !== null) {
        if (chunk.length < n) {
          throw truncated(); // read(n) returns less only once the body ended
        }
        return chunk;
      }
      if (this.ended) {
        if (mayEnd && this.body.readableLength === 0) {
          return undefined;
        }
        throw truncated();
      }
      await this.readable();
    }
  }

  /** Resolves when more data may be readable, or the body ended; rejects when it failed. */
  private async readable(): Promise<void> {
    if (this.failure === undefined) {
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
    if (this.failure !== undefined && !this.ended) {
      throw this.failure === CLOSED
        ? new TunnelError(Code.CANCELLED, "the caller went away")
        : TunnelError.from(this.failure, Code.CANCELLED);
    }
  }

  private wake(): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.();
  }
}

function tooLarge(size: number, max: number): TunnelError {
  return new TunnelError(Code.RESOURCE_EXHAUSTED, `request message of ${size} bytes exceeds the gateway's limit of ${max} bytes`);
}

function truncated(): TunnelError {
  return new TunnelError(Code.INVALID_ARGUMENT, "the request body ends inside a message");
}

/** A length-prefixed message: flags, big-endian length, the bytes. */
export function envelope(flags: number, data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + data.byteLength);
  out[0] = flags;
  out.writeUInt32BE(data.byteLength, 1);
  out.set(data, HEADER_BYTES);
  return out;
}
