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

/** The size of a chunk that continues a message (an envelope's is the message's). */
const CONTINUATION = -1;

/** `next()`: nothing to read yet. */
const PENDING = Symbol("pending");

/** What `readOnly` gets when a second message arrives where only one may. */
export const EXTRA_MESSAGE: unique symbol = Symbol("extra message");

/** A waiting reader; `only` for `readOnly`. */
interface Waiter {
  resolve: (message: Uint8Array | undefined | typeof EXTRA_MESSAGE) => void;
  reject: (error: unknown) => void;
  only: boolean;
}

interface Chunk {
  data: Uint8Array;
  /** Total message size for an envelope; CONTINUATION for a continuation chunk. */
  size: number;
  /** What the chunk holds, as charged to the stream's memory. */
  held: number;
  /** It views the shared buffer the queue tracks (`slab`). */
  onSlab: boolean;
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
  /** Charged bytes of the chunks taken for the message being read. */
  private assembledHeld = 0;
  /** Declared size and bytes so far of the message arriving now (not necessarily the one being read). */
  private incomingSize = 0;
  private incomingReceived = 0;
  /**
   * A small chunk is a view into a larger buffer (grpc-js's 8 KiB pool
   * slabs) and keeps all of it alive while queued. Copying each would cost
   * an allocation per message; instead the queue tracks the buffer of the
   * latest small chunks: its size is charged once, with the first of them,
   * and released when the last of them is read. A small chunk of another
   * buffer meanwhile is charged that whole buffer.
   */
  private slab: ArrayBufferLike | undefined;
  private slabChunks = 0;
  private slabExtra = 0;
  private ended = false;
  private error: TunnelError | undefined;
  /** What the reader gets once it drained the queue after `end(error)`. */
  private endError: TunnelError | undefined;
  /** A waiting reader will look again (a microtask is queued). */
  private waking = false;
  /** The reader waiting for a message, if any. */
  private waiter: Waiter | undefined;
  /** `readOnly`: the one message read so far, held until the end arrives. */
  private onlyMessage: Uint8Array | undefined;

  constructor(private readonly options: MessageQueueOptions) {}

  /** An envelope arrived. Returns the error that must fail the stream, if any. */
  envelope(size: number, data: Uint8Array): TunnelError | undefined {
    if (this.ended) {
      return undefined; // raced with the end of the stream (or its failure, which ends it too): dropped
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
    if (this.ended) {
      return undefined;
    }
    return this.enqueue(this.sequence.more(data.length, this.options.what), data, CONTINUATION);
  }

  /** The peer sends nothing more; the reader drains what is queued, then gets undefined (or `error`, thrown). */
  end(error?: TunnelError): void {
    // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent: only a client's queue ends with an error, once (its call ends once); a server's may end twice (half-close, then the call's end), both times without one
    if (this.ended) {
      return;
    }
    this.ended = true;
    this.endError = error;
    this.options.window?.stop();
    this.wake();
  }

  /** Fails the reader with `error`; queued data is dropped (the stream ending releases its charges). */
  fail(error: TunnelError): void {
    // Stryker disable next-line ConditionalExpression,BlockStatement: unreachable: a stream fails its queue at most once (its end is recorded once)
    if (this.error !== undefined) {
      return;
    }
    this.error = error;
    // Stryker disable next-line BooleanLiteral: equivalent: reads throw the error first, and a failed stream's frames never reach its queue (the engine forgot the stream)
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
    return this.wait(false) as Promise<Uint8Array | undefined>;
  }

  /**
   * For a direction that carries exactly one message (a unary call's
   * request or response): that message, read together with the end of the
   * direction, so one read (one promise) instead of two. Resolves once the
   * peer ended its side, with the message or undefined when none came; with
   * EXTRA_MESSAGE as soon as a second one is complete. Throws the stream's
   * error, as `read` does. Instead of `read`, never after it.
   */
  readOnly(): Promise<Uint8Array | undefined | typeof EXTRA_MESSAGE> {
    return this.wait(true);
  }

  private wait(only: boolean): Promise<Uint8Array | undefined | typeof EXTRA_MESSAGE> {
    if (this.waiter !== undefined) {
      return Promise.reject(new Error("MessageQueue.read: concurrent reads are not supported"));
    }
    let message: Uint8Array | undefined | typeof EXTRA_MESSAGE | typeof PENDING;
    try {
      message = only ? this.nextOnly() : this.next();
    } catch (e) {
      return Promise.reject(e);
    }
    if (message !== PENDING) {
      return Promise.resolve(message);
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject, only };
    });
  }

  /** What `readOnly` gets now: the one message (or undefined) once the end is there, EXTRA_MESSAGE, a throw, or PENDING. */
  private nextOnly(): Uint8Array | undefined | typeof EXTRA_MESSAGE | typeof PENDING {
    for (;;) {
      const message = this.next();
      if (message === PENDING) {
        return PENDING;
      }
      if (message === undefined) {
        return this.onlyMessage;
      }
      if (this.onlyMessage !== undefined) {
        return EXTRA_MESSAGE;
      }
      this.onlyMessage = message;
    }
  }

  /** What a read gets now: a message, the end (undefined), a throw, or PENDING. */
  private next(): Uint8Array | undefined | typeof PENDING {
    const message = this.pull(); // nothing after `fail`, which drops the chunks
    if (message !== undefined) {
      return message;
    }
    // Checked after pulling: returning credit there may have failed the queue.
    if (this.error !== undefined) {
      throw this.error;
    }
    if (!this.ended) {
      return PENDING;
    }
    // Every chunk that arrived was taken: a message that is still being
    // assembled is one whose chunks did not all arrive.
    if (this.sequence.midMessage) {
      throw new TunnelError(this.options.violationCode, `${this.options.what} stream ended in the middle of a message`);
    }
    if (this.endError !== undefined) {
      throw this.endError;
    }
    return undefined;
  }

  private enqueue(violation: string | undefined, data: Uint8Array, size: number): TunnelError | undefined {
    if (violation !== undefined) {
      return new TunnelError(this.options.violationCode, violation);
    }
    const length = data.length;
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
    const buffer = data.buffer;
    const small = length * 2 < buffer.byteLength;
    const onSlab = small && (buffer === this.slab || this.slabChunks === 0);
    // Its own bytes on the tracked slab; otherwise the whole buffer it keeps alive.
    const held = CHUNK_BYTES + (onSlab ? length : buffer.byteLength) + this.assemblyBytes(size, length);
    const slabExtra = onSlab && buffer !== this.slab ? buffer.byteLength - length : 0;
    const refused = this.options.memory.charge(held + slabExtra);
    if (refused !== undefined) {
      return refused;
    }
    if (onSlab) {
      if (buffer !== this.slab) {
        this.slab = buffer;
        this.slabExtra = slabExtra;
      }
      this.slabChunks++;
    }
    this.unreadBytes += length;
    this.bytesReceived += length;
    this.sequence.completed();
    (this.chunks ??= new Fifo()).push({ data, size, held, onSlab });
    this.wake();
    return undefined;
  }

  /**
   * The buffer the reader's assembler will allocate for a message of several
   * chunks once half of it is in (see MessageAssembler), charged with the
   * chunk that brings it there: the rest of the message's size.
   */
  private assemblyBytes(size: number, length: number): number {
    let before = 0;
    if (size === CONTINUATION) {
      before = this.incomingReceived;
    } else {
      this.incomingSize = size;
    }
    this.incomingReceived = before + length;
    const total = this.incomingSize;
    // (The chunk that completes a message may cross half too: it charges 0.)
    const crossesHalf = before * 2 < total && this.incomingReceived * 2 >= total;
    return crossesHalf ? total - this.incomingReceived : 0;
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
      this.options.window?.consumed(chunk.data.length, chunks.size === 0);
      let message: Uint8Array | undefined;
      // Stryker disable next-line ConditionalExpression: MessageAssembler.start returns a whole message as it is; this path only spares making an assembler
      if (chunk.size === chunk.data.length) {
        message = chunk.data; // a whole message in one chunk, the common case
      } else {
        const assembler = (this.assembler ??= new MessageAssembler());
        message = chunk.size === CONTINUATION ? assembler.append(chunk.data) : assembler.start(chunk.size, chunk.data);
      }
      this.assembledHeld += chunk.held;
      if (chunk.onSlab && --this.slabChunks === 0) {
        this.options.memory.release(this.slabExtra);
        this.slab = undefined;
        this.slabExtra = 0;
      }
      if (message !== undefined) {
        this.options.memory.release(this.assembledHeld);
        this.assembledHeld = 0;
        // Stryker disable next-line CallExpression: see dropIfEmpty
        this.dropIfEmpty(chunks);
        return message;
      }
    }
    // Stryker disable next-line CallExpression: see dropIfEmpty
    this.dropIfEmpty(chunks);
    return undefined;
  }

  /** An idle stream keeps no queue (memory only: an empty queue left in place reads as none). */
  // Stryker disable next-line BlockStatement: memory only (above)
  private dropIfEmpty(chunks: Fifo<Chunk> | undefined): void {
    // Stryker disable next-line all: memory only (above); within pull() only fail() replaces the queue, and it leaves none
    if (chunks !== undefined && this.chunks === chunks && chunks.size === 0) {
      this.chunks = undefined;
    }
  }

  /**
   * Something arrived or the queue ended: a waiting reader looks again, in
   * a microtask as an awaiting reader would, so frames that arrive together
   * are all queued before it takes one (and returns its credit).
   */
  private wake(): void {
    // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent: `waking` only spares microtasks; a second look finds no waiter, or nothing new
    if (this.waiter !== undefined && !this.waking) {
      // Stryker disable next-line BooleanLiteral: as above: without the flag each arrival queues a look of its own
      this.waking = true;
      queueMicrotask(() => this.settleWaiter());
    }
  }

  /**
   * Settles the waiting reader if what it waits for is there. Only this
   * settles a waiter, and never from within itself (returning credit may
   * wake the queue again, but `wake` only queues another look).
   */
  private settleWaiter(): void {
    this.waking = false;
    const waiter = this.waiter;
    if (waiter === undefined) {
      return; // settled by the look before, which this one was queued during
    }
    let message: Uint8Array | undefined | typeof EXTRA_MESSAGE | typeof PENDING;
    try {
      message = waiter.only ? this.nextOnly() : this.next();
    } catch (e) {
      this.waiter = undefined;
      waiter.reject(e);
      return;
    }
    if (message !== PENDING) {
      this.waiter = undefined;
      waiter.resolve(message);
    }
  }
}
