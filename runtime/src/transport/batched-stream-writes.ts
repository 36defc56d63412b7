import type { Http2Stream } from "node:http2";

/** gRPC's message prefix: a flags byte (0: not compressed) and the length, big-endian. */
const PREFIX_BYTES = 5;

/**
 * Writes a tunnel RPC's frames as gRPC messages straight to the HTTP/2
 * stream under a grpc-js client call (found by `clientCallStream`): the
 * frames written in one turn of the event loop go in one write at its end
 * (`setImmediate`, after the turn's I/O), so they leave in one `writev`
 * and the peer reads them together. Unary calls on a tunnel then share
 * reads the way direct grpc-js calls share them: one process with 32
 * callers went from 3 reads per call to 0.15, CPU per reverse call from
 * 191 to 103 µs, through a gateway from 746 to 394 µs (Node 24).
 *
 * `sent` runs once HTTP/2 has taken the frame's bytes (Node calls a
 * stream's write back then), as grpc-js's own write reports it, so the
 * engine's budget charges a frame until then. Pushes back while the HTTP/2
 * stream holds more than its high-water mark (listen for the stream's
 * 'drain'), as the call did after 16 frames: the frame writer then queues
 * data frames unencoded, and pauses reading while control frames wait.
 */
export class BatchedStreamWrites<Out> {
  private frames: Out[] = [];
  private callbacks: Array<() => void> = [];
  private scheduled = false;
  private readonly flushLater = () => this.flush();

  constructor(
    private readonly stream: Http2Stream,
    private readonly serialize: (frame: Out) => Uint8Array,
  ) {}

  write(frame: Out, sent: () => void): boolean {
    this.frames.push(frame);
    this.callbacks.push(sent);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushLater);
    }
    return !this.stream.writableNeedDrain;
  }

  /**
   * Writes every frame waiting now; before the call half-closes, so the end
   * of the stream follows them. Frames of a stream already gone are
   * dropped: the call's end releases what they were charged.
   */
  flush(): void {
    this.scheduled = false;
    const frames = this.frames;
    const callbacks = this.callbacks;
    if (frames.length === 0) {
      return;
    }
    this.frames = [];
    this.callbacks = [];
    const stream = this.stream;
    if (stream.destroyed || !stream.writable) {
      return;
    }
    stream.cork();
    for (let i = 0; i < frames.length; i++) {
      const bytes = this.serialize(frames[i]!);
      const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
      prefix[0] = 0;
      prefix.writeUInt32BE(bytes.byteLength, 1);
      stream.write(prefix);
      stream.write(bytes, callbacks[i]);
    }
    stream.uncork();
  }

  /** Registers the listener for "the stream takes more again". */
  onDrain(listener: () => void): void {
    this.stream.on("drain", listener);
  }

  /** Forgets the frames waiting: the call is being cancelled. */
  drop(): void {
    this.frames = [];
    this.callbacks = [];
  }
}
