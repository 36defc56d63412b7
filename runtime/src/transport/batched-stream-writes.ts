import type { Http2Stream } from "node:http2";
import { PREFIX_BYTES, writeGrpcMessages } from "./grpc-message-writes.js";

/**
 * Writes a tunnel RPC's frames as gRPC messages straight to the HTTP/2
 * stream under a grpc-js call (found by `clientCallStream`, or a server
 * call's `messageWriter`): the frames written in one turn of the event
 * loop go in one write at its end (`setImmediate`, after the turn's I/O),
 * so they leave in one `writev` and the peer reads them together. Unary
 * calls on a tunnel then share reads the way direct grpc-js calls share
 * them: one process with 32 callers went from 3 reads per call to 0.15,
 * CPU per reverse call from 191 to 103 µs, through a gateway from 746 to
 * 394 µs (Node 24).
 *
 * Frames are encoded only as HTTP/2 takes them: up to the stream's
 * high-water mark, the rest wait as they are until it drains (as they
 * waited in grpc-js's call). An encoded frame is a second copy of what the
 * engine already holds and charges once (a call's metadata, say), so a
 * peer that stops reading would otherwise make a tunnel hold everything it
 * wrote twice.
 *
 * `sent` runs once HTTP/2 has taken the frame's bytes (Node calls a
 * stream's write back then), as grpc-js's own write reports it, so the
 * engine's budget charges a frame until then. `write` pushes back while
 * frames wait here or the stream is past its high-water mark (listen with
 * `onDrain`): the frame writer then queues data frames unencoded, and
 * pauses reading while control frames wait.
 */
export class BatchedStreamWrites<Out> {
  private frames: Out[] = [];
  private callbacks: Array<() => void> = [];
  private scheduled = false;
  private readonly flushLater = () => this.flush();

  constructor(
    private readonly stream: Http2Stream,
    private readonly serialize: (frame: Out) => Uint8Array,
  ) {
    // Before any listener of the engine's (see onDrain): what waits goes first.
    stream.on("drain", this.flushLater);
  }

  write(frame: Out, sent: () => void): boolean {
    const waiting = this.frames.length > 0 && !this.scheduled;
    this.frames.push(frame);
    this.callbacks.push(sent);
    if (!this.scheduled && !waiting) {
      this.scheduled = true;
      setImmediate(this.flushLater);
    }
    return !waiting && !this.stream.writableNeedDrain;
  }

  /**
   * Writes the frames waiting now, up to the stream's high-water mark, or
   * all of them with `all` (before the call ends, so its end follows
   * them). Frames of a stream already gone are dropped: the call's end
   * releases what they were charged.
   */
  flush(all = false): void {
    this.scheduled = false;
    const stream = this.stream;
    if (stream.destroyed || !stream.writable) {
      this.drop();
      return;
    }
    const room = all ? Number.POSITIVE_INFINITY : stream.writableHighWaterMark - stream.writableLength;
    const encoded: Uint8Array[] = [];
    let bytes = 0;
    while (encoded.length < this.frames.length && bytes < room) {
      const frame = this.serialize(this.frames[encoded.length]!);
      encoded.push(frame);
      bytes += PREFIX_BYTES + frame.byteLength;
    }
    if (encoded.length === 0) {
      return;
    }
    const callbacks = this.callbacks.splice(0, encoded.length);
    this.frames.splice(0, encoded.length);
    writeGrpcMessages(stream, encoded, () => {
      for (const sent of callbacks) {
        sent();
      }
    });
  }

  /** Registers the listener for "writes are taken again". */
  onDrain(listener: () => void): void {
    this.stream.on("drain", () => {
      if (this.frames.length === 0) {
        listener();
      }
    });
  }

  /** Forgets the frames waiting: the call is being cancelled. */
  drop(): void {
    this.frames = [];
    this.callbacks = [];
  }
}
