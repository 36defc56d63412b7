import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { ChunkSequence, MessageAssembler } from "../protocol/chunking.js";
import type { ReceiveWindow } from "../protocol/flow-control.js";
import { Fifo } from "./fifo.js";

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
}

/** `next()`: nothing to read yet. */
const PENDING = Symbol("pending");

interface Chunk {
  data: Uint8Array;
  /** Total message size for an envelope; -1 for a continuation chunk. */
  size: number;
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
  /** Message bytes accepted so far: a plain counter for diagnostics. */
  bytesReceived = 0;
  private readonly sequence = new ChunkSequence();
  private assembler: MessageAssembler | undefined;
  private assembling = false;
  private ended = false;
  private error: TunnelError | undefined;
  /** What the reader gets once it drained the queue after `end(error)`. */
  private endError: TunnelError | undefined;
  /** The reader waiting for a message, if any. */
  private waiter: { resolve: (message: Uint8Array | undefined) => void; reject: (error: unknown) => void } | undefined;

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
    return this.enqueue(this.sequence.envelope(size, data.length, this.options.what), { data, size });
  }

  /** A continuation chunk arrived. Returns the error that must fail the stream, if any. */
  more(data: Uint8Array): TunnelError | undefined {
    if (this.ended || this.error !== undefined) {
      return undefined;
    }
    return this.enqueue(this.sequence.more(data.length, this.options.what), { data, size: -1 });
  }

  /** The peer sends nothing more; the reader drains what is queued, then gets undefined (or `error`, thrown). */
  end(error?: TunnelError): void {
    if (this.ended) {
      return;
    }
    this.ended = true;
    this.endError = error;
    this.options.window?.stop();
    this.wake();
  }

  /** Fails the reader with `error`; queued data is dropped. */
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
   * read (after `end(error)`, that error is thrown instead). Throws the
   * stream's error after `fail`. One reader at a time. Not an async
   * function: a read costs one promise, which matters because every promise
   * costs more while AsyncLocalStorage (OpenTelemetry's context) is active.
   */
  read(): Promise<Uint8Array | undefined> {
    if (this.waiter !== undefined) {
      return Promise.reject(new Error("MessageQueue.read: concurrent reads are not supported"));
    }
    let message: Uint8Array | undefined | typeof PENDING;
    try {
      message = this.next();
    } catch (e) {
      return Promise.reject(e);
    }
    if (message !== PENDING) {
      return Promise.resolve(message);
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** What a read gets now: a message, the end (undefined), a throw, or PENDING. */
  private next(): Uint8Array | undefined | typeof PENDING {
    if (this.error !== undefined) {
      throw this.error;
    }
    const message = this.pull();
    if (message !== undefined) {
      return message;
    }
    if (!this.ended) {
      return PENDING;
    }
    if (this.assembling || this.sequence.midMessage) {
      throw new TunnelError(this.options.violationCode, `${this.options.what} stream ended in the middle of a message`);
    }
    if (this.endError !== undefined) {
      throw this.endError;
    }
    return undefined;
  }

  private enqueue(violation: string | undefined, chunk: Chunk): TunnelError | undefined {
    if (violation !== undefined) {
      return new TunnelError(this.options.violationCode, violation);
    }
    const length = chunk.data.length;
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
    this.unreadBytes += length;
    this.bytesReceived += length;
    this.sequence.completed();
    (this.chunks ??= new Fifo()).push(chunk);
    this.wake();
    return undefined;
  }

  /** Takes queued chunks until a message is complete; returns it, if any. */
  private pull(): Uint8Array | undefined {
    const chunks = this.chunks;
    // Stops if the queue failed meanwhile (returning credit writes a frame).
    while (chunks !== undefined && this.chunks === chunks && chunks.size > 0) {
      const chunk = chunks.shift();
      this.unreadBytes -= chunk.data.length;
      this.options.window?.consumed(chunk.data.length, chunks.size === 0);
      let message: Uint8Array | undefined;
      if (chunk.size === chunk.data.length) {
        message = chunk.data; // a whole message in one chunk, the common case
      } else {
        const assembler = (this.assembler ??= new MessageAssembler());
        message = chunk.size >= 0 ? assembler.start(chunk.size, chunk.data) : assembler.append(chunk.data);
      }
      this.assembling = message === undefined;
      if (message !== undefined) {
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

  /** Settles a waiting reader if what it waits for is there (taking it returns credit at once, as the read asked). */
  private wake(): void {
    const waiter = this.waiter;
    if (waiter === undefined) {
      return;
    }
    let message: Uint8Array | undefined | typeof PENDING;
    try {
      message = this.next();
    } catch (e) {
      if (this.waiter === waiter) {
        this.waiter = undefined;
        waiter.reject(e);
      }
      return;
    }
    // Returning credit writes a frame, which may fail the queue (and settle the reader) meanwhile.
    if (message !== PENDING && this.waiter === waiter) {
      this.waiter = undefined;
      waiter.resolve(message);
    }
  }
}
