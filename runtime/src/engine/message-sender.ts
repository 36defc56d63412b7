import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { nextChunkLength } from "../protocol/chunking.js";
import { MAX_WINDOW_BYTES } from "../protocol/constants.js";
import type { SendWindow } from "../protocol/flow-control.js";
import type { MessageFrames } from "../protocol/frames.js";
import type { DataSource, FrameWriter } from "./frame-conn.js";

/**
 * Sends the messages of one direction of one stream: splits each into chunks
 * of at most 16 KiB and at most the flow-control window, and waits only when
 * the window is closed or the transport is full — never per chunk otherwise.
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
    /** Largest chunk to send (TunnelLimits.maxChunkBytes). */
    private readonly maxChunkBytes: number,
    /** The send window (revision 1); undefined for revision 0. Released by the stream when it ends. */
    readonly window: SendWindow | undefined,
    /** The stream's error once it has ended; sending then fails with it. */
    private readonly endedWith: () => TunnelError | undefined,
  ) {}

  /** The stream ended: a send waiting for the window or the transport wakes up and fails. */
  stop(): void {
    this.window?.release();
    this.resume?.();
  }

  /** Checked when a queued frame's turn comes: frames of an ended stream are not sent. */
  hasEnded(): boolean {
    return this.endedWith() !== undefined;
  }

  /** True while a message is being sent (false as soon as `send` returns when it never had to wait). */
  get sending(): boolean {
    return this.busy;
  }

  async send(data: Uint8Array): Promise<void> {
    if (this.busy) {
      throw new Error("MessageSender.send: a message is already being sent on this stream");
    }
    if (data.length > MAX_WINDOW_BYTES) {
      throw new TunnelError(Code.RESOURCE_EXHAUSTED, `message of ${data.length} bytes is too large for the tunnel protocol`);
    }
    this.busy = true;
    try {
      const size = data.length;
      const window = this.window;
      let offset = 0;
      // `continue` re-checks the stream after waiting for the window; the
      // loop ends once the last chunk (the only one for an empty message) is out.
      for (;;) {
        const error = this.endedWith();
        if (error !== undefined) {
          throw error;
        }
        let length: number;
        if (window !== undefined) {
          // A message that fits one chunk waits for room for all of it rather
          // than being split at the window's edge (see worthWaitingFor).
          if (window.size === 0 ? offset < size : offset === 0 && size <= this.maxChunkBytes && window.worthWaitingFor(size)) {
            await window.whenOpen(); // any credit, or the stream ended (release): check again
            continue;
          }
          length = nextChunkLength(this.maxChunkBytes, size - offset, window.size);
          window.take(length);
        } else {
          length = nextChunkLength(this.maxChunkBytes, size - offset);
        }
        const chunk = data.subarray(offset, offset + length);
        const frame = offset === 0 ? this.frames.envelope(this.streamId, size, chunk) : this.frames.more(this.streamId, chunk);
        offset += length;
        const queued = this.writer.writeData(frame, this);
        if (queued !== undefined) {
          await new Promise<void>((resolve) => {
            this.resume = resolve;
            void queued.then(resolve);
          });
          this.resume = undefined;
          const error = this.endedWith();
          if (error !== undefined) {
            throw error; // the frame was dropped
          }
        }
        this.bytesSent += length;
        if (offset >= size) {
          return;
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
