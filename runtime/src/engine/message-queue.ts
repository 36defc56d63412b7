import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { ChunkSequence } from "../protocol/chunking.js";
import type { ReceiveWindow } from "../protocol/flow-control.js";
import { MessageAssembler } from "../protocol/message-assembler.js";
import { Fifo } from "./fifo.js";
import type { StreamMemory } from "./memory-budget.js";
import { CHUNK_BYTES } from "./memory-costs.js";

export interface MessageQueueOptions {
  /** "request" on the tunnel server, "response" on the tunnel client. */
  what: "request" | "response";
  /** Code for malformed chunking: INVALID_ARGUMENT (server), INTERNAL (client). */
  violationCode: Code;
  /** The stream's receive window (revision 1); undefined for revision 0. */
  window: ReceiveWindow | undefined;
  maxMessageBytes: number;
  /** Bound on unread bytes when there is no window (revision 0). */
  maxBufferedBytes: number;
  /** The stream's memory: queued chunks are charged to it until read. */
  memory: StreamMemory;
}

const EMPTY = new Uint8Array(0);

interface Chunk {
  data: Uint8Array;
  /** Total message size for an envelope; -1 for a continuation chunk. */
  size: number;
  /** What the chunk holds, as charged to the stream's memory. */
  held: number;
}

/**
 * One direction of one stream on the receiving side. The tunnel's receive
 * loop pushes chunks here without ever waiting (so one slow reader cannot
 * stall the tunnel); chunking errors are detected on arrival. The reader
 * pulls chunks, reassembles messages and, by pulling, returns flow-control
 * credit: like the Go library, credit flows only as fast as the application
 * reads, and messages larger than the window still get through.
 */
export class MessageQueue {
  // Idle streams are many: the chunk list and the assembler (only needed for
  // messages of several chunks) are allocated when needed.
  private chunks: Fifo<Chunk> | undefined;
  private unreadBytes = 0;
  private readonly sequence = new ChunkSequence();
  private assembler: MessageAssembler | undefined;
  private assembling = false;
  /** Charged bytes of the chunks taken for the message being read. */
  private assembledHeld = 0;
  private ended = false;
  private error: TunnelError | undefined;
  private wakeReader: (() => void) | undefined;
  private reading = false;

  constructor(private readonly options: MessageQueueOptions) {}

  /** An envelope arrived. Returns the error that must fail the stream, if any. */
  envelope(size: number, data: Uint8Array): TunnelError | undefined {
    if (this.ended || this.error !== undefined) {
      return undefined; // raced with the end of the stream: dropped
    }
    if (size > this.options.maxMessageBytes) {
      return new TunnelError(
        Code.RESOURCE_EXHAUSTED,
        `${this.options.what} message larger than max (${size} vs. ${this.options.maxMessageBytes})`,
      );
    }
    return this.enqueue(this.sequence.envelope(size, data.length, this.options.what), data, size);
  }

  /** A continuation chunk arrived. Returns the error that must fail the stream, if any. */
  more(data: Uint8Array): TunnelError | undefined {
    if (this.ended || this.error !== undefined) {
      return undefined;
    }
    return this.enqueue(this.sequence.more(data.length, this.options.what), data, -1);
  }

  /** The peer sends nothing more; the reader drains what is queued. */
  end(): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    this.options.window?.stop();
    this.wake();
  }

  /** Fails the reader with `error`; queued data is dropped (the stream ending releases its charges). */
  fail(error: TunnelError): void {
    if (this.error !== undefined) {
      return;
    }
    this.error = error;
    this.ended = true;
    this.options.window?.stop();
    this.chunks = undefined;
    this.unreadBytes = 0;
    this.wake();
  }

  /** True when the peer ended its side in the middle of a message. */
  get endedMidMessage(): boolean {
    return this.sequence.midMessage;
  }

  /**
   * The next message, or undefined once the peer ended its side and all was
   * read. Throws the stream's error after `fail`. One reader at a time.
   */
  async read(): Promise<Uint8Array | undefined> {
    if (this.reading) {
      throw new Error("MessageQueue.read: concurrent reads are not supported");
    }
    this.reading = true;
    try {
      for (;;) {
        if (this.error !== undefined) {
          throw this.error;
        }
        const message = this.pull();
        if (message !== undefined) {
          return message;
        }
        if (this.ended) {
          if (this.assembling || this.sequence.midMessage) {
            throw new TunnelError(this.options.violationCode, `${this.options.what} stream ended in the middle of a message`);
          }
          return undefined;
        }
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      this.reading = false;
    }
  }

  private enqueue(violation: string | undefined, received: Uint8Array, size: number): TunnelError | undefined {
    if (violation !== undefined) {
      return new TunnelError(this.options.violationCode, violation);
    }
    const length = received.length;
    const window = this.options.window;
    if (window !== undefined) {
      if (!window.receive(length)) {
        return new TunnelError(Code.RESOURCE_EXHAUSTED, "flow control window exceeded");
      }
    } else if (this.unreadBytes + length > this.options.maxBufferedBytes) {
      return new TunnelError(
        Code.RESOURCE_EXHAUSTED,
        `more than ${this.options.maxBufferedBytes} unread ${this.options.what} bytes buffered for a stream without flow control`,
      );
    }
    // A small chunk is a view into a larger buffer (grpc-js's 8 KiB pool
    // slabs, or a frame padded with unknown fields): kept as it is, it would
    // hold all of that buffer. Copied, it holds only its own bytes.
    const data = length === 0 ? EMPTY : length * 2 < received.buffer.byteLength ? new Uint8Array(received) : received;
    const held = data.buffer.byteLength + CHUNK_BYTES;
    const refused = this.options.memory.charge(held);
    if (refused !== undefined) {
      return refused;
    }
    this.unreadBytes += length;
    this.sequence.completed();
    (this.chunks ??= new Fifo()).push({ data, size, held });
    this.wake();
    return undefined;
  }

  /**
   * Takes queued chunks until a message is complete; returns it, if any.
   * The chunks of a message stay charged until it is complete and handed to
   * the reader.
   */
  private pull(): Uint8Array | undefined {
    const chunks = this.chunks;
    // Stops if the queue failed meanwhile (returning credit writes a frame).
    while (chunks !== undefined && this.chunks === chunks && chunks.size > 0) {
      const chunk = chunks.shift();
      this.unreadBytes -= chunk.data.length;
      this.options.window?.consumed(chunk.data.length);
      let message: Uint8Array | undefined;
      if (chunk.size === chunk.data.length) {
        message = chunk.data; // a whole message in one chunk, the common case
      } else {
        const assembler = (this.assembler ??= new MessageAssembler());
        message = chunk.size >= 0 ? assembler.start(chunk.size, chunk.data) : assembler.append(chunk.data);
      }
      this.assembling = message === undefined;
      this.assembledHeld += chunk.held;
      if (message !== undefined) {
        this.options.memory.release(this.assembledHeld);
        this.assembledHeld = 0;
        this.dropIfEmpty(chunks);
        return message;
      }
    }
    this.dropIfEmpty(chunks);
    return undefined;
  }

  /** An idle stream keeps no queue. */
  private dropIfEmpty(chunks: Fifo<Chunk> | undefined): void {
    if (chunks !== undefined && this.chunks === chunks && chunks.size === 0) {
      this.chunks = undefined;
    }
  }

  private wake(): void {
    const wake = this.wakeReader;
    this.wakeReader = undefined;
    wake?.();
  }
}
