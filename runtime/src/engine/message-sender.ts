import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { nextChunkLength } from "../protocol/chunking.js";
import { MAX_WINDOW_BYTES } from "../protocol/constants.js";
import type { SendWindow } from "../protocol/flow-control.js";
import type { MessageFrames } from "../protocol/frames.js";
import type { DataSource, FrameWriter } from "./frame-conn.js";

/** The stream a sender sends for (an object, not a callback: no closure per stream). */
export interface SenderOwner {
  /** True once the stream has ended. */
  readonly closed: boolean;
  /** The stream's error once it has ended; sending then fails with it. */
  endedWith(): TunnelError | undefined;
}

/**
 * The largest chunk a stream may send now, as its tunnel decides: whole
 * messages while the stream has the tunnel to itself, smaller chunks while
 * other streams share it (see TunnelEngine.maxChunkBytes).
 */
export interface ChunkLimit {
  readonly maxChunkBytes: number;
}

/**
 * Sends the messages of one direction of one stream: splits each into chunks
 * of at most the tunnel's chunk limit and at most the flow-control window, and waits
 * only when the window is closed (or, once grown, too small for a whole
 * message) or the transport is full — never per chunk otherwise.
 */
export class MessageSender<Out> implements DataSource {
  private busy = false;
  /** Message bytes handed to the transport so far: a plain counter for diagnostics. */
  bytesSent = 0;
  /** Resumes the current wait for the transport early, when the stream ends. */
  private resume: (() => void) | undefined;

  constructor(
    private readonly writer: FrameWriter<Out>,
    private readonly frames: MessageFrames<Out>,
    private readonly streamId: bigint,
    /** The largest chunk to send, read once per message (or resumption). */
    private readonly chunks: ChunkLimit,
    /** The send window (revision 1); undefined for revision 0. Released by the stream when it ends. */
    readonly window: SendWindow | undefined,
    private readonly owner: SenderOwner,
  ) {}

  /** The stream ended: a send waiting for the window or the transport wakes up and fails. */
  stop(): void {
    this.window?.release();
    this.resume?.();
  }

  /** Checked when a queued frame's turn comes: frames of an ended stream are not sent. */
  hasEnded(): boolean {
    return this.owner.closed; // not endedWith(), which makes an error for a stream that ended OK
  }

  /** True while a message is being sent (false as soon as `send` returns when it never had to wait). */
  get sending(): boolean {
    return this.busy;
  }

  /**
   * Sends one message. Not an async function: a message that goes out
   * without waiting (the common case) costs no promise of its own, which
   * matters while AsyncLocalStorage (OpenTelemetry's context) is active.
   */
  send(data: Uint8Array): Promise<void> {
    if (this.busy) {
      return Promise.reject(new Error("MessageSender.send: a message is already being sent on this stream"));
    }
    if (data.length > MAX_WINDOW_BYTES) {
      return Promise.reject(
        new TunnelError(Code.RESOURCE_EXHAUSTED, `message of ${data.length} bytes is too large for the tunnel protocol`),
      );
    }
    this.busy = true;
    let pause: Pause | undefined;
    try {
      pause = this.sendFrom(data, 0);
    } catch (e) {
      this.busy = false;
      return Promise.reject(e);
    }
    // Stryker disable next-line ConditionalExpression,BlockStatement: equivalent: sendAfterPauses without a pause sends nothing, clears busy before it returns and resolves; this path only saves its promise
    if (pause === undefined) {
      this.busy = false;
      return SENT;
    }
    return this.sendAfterPauses(data, pause);
  }

  /** The rest of a message whose sending had to wait: waits, sends on, until all is out. */
  private async sendAfterPauses(data: Uint8Array, first: Pause): Promise<void> {
    try {
      for (let pause: Pause | undefined = first; pause !== undefined; pause = this.sendFrom(data, pause.offset)) {
        await pause.wait;
        if (pause.queued !== undefined) {
          this.resume = undefined;
          const error = this.owner.endedWith();
          if (error !== undefined) {
            throw error; // the frame was dropped
          }
          this.bytesSent += pause.queued;
          if (pause.offset >= data.length) {
            return;
          }
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /**
   * Sends the chunks of `data` from `offset` while nothing needs waiting;
   * undefined once all are out, else what to wait for: the window to open,
   * or the transport to take the chunk just queued.
   */
  private sendFrom(data: Uint8Array, offset: number): Pause | undefined {
    const size = data.length;
    const window = this.window;
    const maxChunk = this.chunks.maxChunkBytes;
    // The loop ends once the last chunk (the only one for an empty message) is out.
    for (;;) {
      const error = this.owner.endedWith();
      if (error !== undefined) {
        throw error;
      }
      let length: number;
      if (window !== undefined) {
        // A closed or nearly closed window waits for more credit (see
        // tooSmallFor); a message that fits one chunk waits for room for all
        // of it rather than being split at the window's edge (see worthWaitingFor).
        if (window.tooSmallFor(size - offset) || (offset === 0 && size <= maxChunk && window.worthWaitingFor(size))) {
          // Any credit, or the stream ended (release): check again.
          return { wait: window.whenOpen(), offset, queued: undefined };
        }
        length = nextChunkLength(maxChunk, size - offset, window.size);
        window.take(length);
      } else {
        length = nextChunkLength(maxChunk, size - offset);
      }
      // A message sent whole is passed on as it is: it may have headroom for its frame (headroom.ts).
      const chunk = length === size ? data : data.subarray(offset, offset + length);
      const frame = offset === 0 ? this.frames.envelope(this.streamId, size, chunk) : this.frames.more(this.streamId, chunk);
      offset += length;
      const queued = this.writer.writeData(frame, this);
      if (queued !== undefined) {
        const wait = new Promise<void>((resolve) => {
          this.resume = resolve;
          void queued.then(resolve);
        });
        return { wait, offset, queued: length };
      }
      this.bytesSent += length;
      if (offset >= size) {
        return undefined;
      }
    }
  }
}

/** Where sending a message stopped to wait: for `wait`, then on from `offset`. */
interface Pause {
  wait: Promise<void>;
  offset: number;
  /** The length of the chunk queued at the transport, counted as sent once it went; undefined: waiting for the window. */
  queued: number | undefined;
}

/** What a send that did not need to wait returns: one settled promise for all. */
const SENT: Promise<void> = Promise.resolve();
