import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { nextChunkLength } from "../protocol/chunking.js";
import { MAX_WINDOW_BYTES } from "../protocol/constants.js";
import type { SendWindow } from "../protocol/flow-control.js";
import type { MessageFrames } from "../protocol/frames.js";
import type { FrameWriter } from "./frame-conn.js";

/**
 * Sends the messages of one direction of one stream: splits each into chunks
 * of at most 16 KiB and at most the flow-control window, and waits only when
 * the window is closed or the transport is full — never per chunk otherwise.
 */
export class MessageSender<Out> {
  private busy = false;

  constructor(
    private readonly writer: FrameWriter<Out>,
    private readonly frames: MessageFrames<Out>,
    private readonly streamId: bigint,
    /** The send window (revision 1); undefined for revision 0. */
    readonly window: SendWindow | undefined,
    /** The stream's error once it has ended; sending then fails with it. */
    private readonly endedWith: () => TunnelError | undefined,
    /** Resolves when the stream ends, to stop waiting for window or drain. */
    private readonly ended: Promise<void>,
  ) {}

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
      let offset = 0;
      // `continue` re-checks the stream and transport after a wait; the loop
      // ends once the last chunk (the only one for an empty message) is out.
      for (;;) {
        const error = this.endedWith();
        if (error !== undefined) {
          throw error;
        }
        if (!this.writer.writable) {
          await Promise.race([this.writer.whenWritable(), this.ended]);
          continue;
        }
        let length: number;
        if (this.window !== undefined) {
          if (this.window.size === 0 && offset < size) {
            await Promise.race([this.window.whenOpen(), this.ended]);
            continue;
          }
          length = nextChunkLength(size - offset, this.window.size);
          this.window.take(length);
        } else {
          length = nextChunkLength(size - offset);
        }
        const chunk = data.subarray(offset, offset + length);
        this.writer.write(
          offset === 0 ? this.frames.envelope(this.streamId, size, chunk) : this.frames.more(this.streamId, chunk),
        );
        offset += length;
        if (offset >= size) {
          return;
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
