import type { TunnelError } from "../errors.js";
import { Fifo } from "./fifo.js";
import type { MemoryBudget } from "./memory-budget.js";
import { PAUSED_READ_AHEAD_BYTES } from "./memory-costs.js";
import { NumberRing } from "./number-ring.js";

/**
 * The outbound half of a tunnel transport, as the engines see it: the tunnel
 * RPC's send side, and the switch that stops its receive side. Adapters
 * exist for each of the four grpc-js call objects (client/server ×
 * forward/reverse); tests can provide their own.
 */
export interface FrameConn<Out> {
  /**
   * Queues a frame; false when the transport wants the writer to wait for
   * drain. `sent` runs once the transport has sent the frame (or dropped it
   * with the call); calls come in write order.
   */
  write(frame: Out, sent: () => void): boolean;
  /** Registers the listener for "the transport can take more again". */
  onDrain(listener: () => void): void;
  /**
   * Registers the listener for "the tunnel RPC is over": the transport holds
   * none of the frames written any more (sent or dropped).
   */
  onClosed(listener: () => void): void;
  /** Stops delivering inbound frames, so the transport's flow control holds the peer back. */
  pauseReading(): void;
  /** Delivers inbound frames again. */
  resumeReading(): void;
  /** Ends the tunnel RPC cleanly from this side. */
  end(): void;
  /** Tears the tunnel RPC down with an error. */
  abort(error: TunnelError): void;
  /**
   * What the transport still holds while reading is paused, charged to the
   * tunnel meanwhile (default PAUSED_READ_AHEAD_BYTES).
   */
  readonly pausedReadAheadBytes?: number;
}

/** The inbound half: what a transport adapter feeds to an engine. */
export interface FrameSink<In> {
  /** A frame arrived (or could not be decoded, see `UndecodableFrame`). */
  receive(frame: In | UndecodableFrame): void;
  /**
   * The peer ended its side of the tunnel RPC, and `transportEnded` follows
   * once the transport knows whether cleanly (a server call learns it a tick
   * later). Meanwhile no new stream can succeed: a tunnel client refuses them.
   */
  transportEnding?(): void;
  /** The tunnel RPC ended: cleanly (no error) or broken. */
  transportEnded(error?: TunnelError): void;
}

/**
 * A frame whose bytes were not a valid protobuf message. Decoding never
 * throws inside grpc-js (which would end the RPC without telling the
 * engine); the engine turns this into a protocol error with a clear message.
 */
export interface UndecodableFrame {
  /** Why decoding failed (the protobuf-es error message). */
  readonly undecodable: string;
}

export function isUndecodable(frame: object): frame is UndecodableFrame {
  return "undecodable" in frame;
}

/** Where queued data frames come from: frames of a stream that ended meanwhile are dropped. */
export interface DataSource {
  hasEnded(): boolean;
}

/** A data frame waiting for the transport to drain. */
interface QueuedData<Out> {
  frame: Out;
  source: DataSource;
  written: () => void;
}

export interface FrameWriterOptions<Out> {
  /** The tunnel's budget: frames waiting in the transport are charged to it until sent. */
  memory: MemoryBudget;
  /** What a frame holds until the transport has sent it. */
  frameBytes(frame: Out): number;
  /**
   * Stop reading the tunnel while more than this many bytes of control
   * frames wait in the transport (resume below half of it); Infinity: never.
   */
  pauseReadingAt: number;
  /**
   * Queue data while the transport holds at least this many bytes of frames
   * (a frame is written whenever the transport holds less, so a chunk of any
   * size goes out). grpc-js buffers sixteen frames whatever their size: a
   * byte bound keeps other streams' frames from waiting behind megabytes of
   * one bulk stream's chunks. Default: no bound but the transport's.
   */
  maxBytesInTransport?: number;
}

/**
 * Writes frames to a FrameConn and tracks its back-pressure. Control frames
 * are always written at once. Message data is written at once while the
 * transport takes more, and queued while it is full: one queue across all
 * streams, drained in arrival order on 'drain'. So one tunnel never buffers
 * data without bound, and a blocked sender costs O(1) per frame, where
 * waking every blocked sender on each drain (most of them only to wait
 * again) cost O(streams) per drain.
 *
 * A control frame may overtake queued data of its own stream only where
 * that is harmless: headers and new streams precede their data anyway, a
 * half-close follows a completed send, and a cancel or close ends the
 * stream, whose queued data is then dropped.
 *
 * Every frame in the transport is charged to the tunnel's memory budget
 * until the transport reports it sent. Data in the transport is bounded
 * (it only goes in while the transport takes more, each sending stream has
 * at most one frame waiting here, and windows bound the rest); control
 * frames are not, because they answer the peer: a peer that sends frames
 * but never reads would make us queue answers without end. So while more
 * than `pauseReadingAt` bytes of control frames wait, the writer stops the
 * transport reading (the tunnel RPC's HTTP/2 flow control then stalls the
 * peer), and lets it read again once half of them went out.
 */
export class FrameWriter<Out> {
  private blocked = false;
  private closed = false;
  private readonly data = new Fifo<QueuedData<Out>>();
  /** The bytes of each frame in the transport, in write order; negative for control frames. */
  private readonly inTransport = new NumberRing();
  private bytesInTransport = 0;
  private readonly maxBytesInTransport: number;
  /** Charged while reading is paused. */
  private readonly pausedBytes: number;
  private unsentControl = 0;
  private paused = false;
  private transportOver = false;
  private readonly sent = () => this.frameSent();

  constructor(
    private readonly conn: FrameConn<Out>,
    private readonly options: FrameWriterOptions<Out>,
  ) {
    this.maxBytesInTransport = options.maxBytesInTransport ?? Number.POSITIVE_INFINITY;
    this.pausedBytes = conn.pausedReadAheadBytes ?? PAUSED_READ_AHEAD_BYTES;
    conn.onDrain(() => {
      this.blocked = false;
      this.pump();
    });
    conn.onClosed(() => this.releaseAll());
  }

  /** True while the writer keeps the transport from reading. */
  get readingPaused(): boolean {
    return this.paused;
  }

  /** Writes a control frame now, whatever the back-pressure. */
  write(frame: Out): void {
    if (this.closed) {
      return;
    }
    const bytes = this.options.frameBytes(frame);
    this.unsentControl += bytes;
    this.send(frame, -bytes);
    if (!this.paused && this.unsentControl > this.options.pauseReadingAt && !this.transportOver) {
      this.paused = true;
      this.options.memory.forceCharge(this.pausedBytes);
      this.conn.pauseReading();
    }
  }

  /**
   * Writes a data frame now if the transport takes more (returns undefined),
   * else queues it and returns a promise that resolves once it was written,
   * or dropped because its source ended or the writer was closed.
   */
  writeData(frame: Out, source: DataSource): Promise<void> | undefined {
    if (this.closed) {
      return undefined;
    }
    if (this.takesData() && this.data.size === 0) {
      this.send(frame, this.options.frameBytes(frame));
      return undefined;
    }
    return new Promise((written) => this.data.push({ frame, source, written }));
  }

  /** Drops queued data and every later frame, and releases queued senders. */
  close(): void {
    this.closed = true;
    this.pump();
  }

  /** True while data frames may go to the transport. */
  private takesData(): boolean {
    return !this.blocked && this.bytesInTransport < this.maxBytesInTransport;
  }

  private send(frame: Out, signedBytes: number): void {
    if (!this.transportOver) {
      const bytes = Math.abs(signedBytes);
      this.inTransport.push(signedBytes);
      this.bytesInTransport += bytes;
      this.options.memory.forceCharge(bytes);
    }
    if (!this.conn.write(frame, this.sent)) {
      this.blocked = true;
    }
  }

  private pump(): void {
    while ((this.takesData() || this.closed) && this.data.size > 0) {
      const next = this.data.shift();
      if (!this.closed && !next.source.hasEnded()) {
        this.send(next.frame, this.options.frameBytes(next.frame));
      }
      next.written();
    }
  }

  /** The transport sent the oldest frame it held. */
  private frameSent(): void {
    if (this.inTransport.size === 0) {
      return; // the transport is over: everything was released already
    }
    const signedBytes = this.inTransport.shift();
    const bytes = Math.abs(signedBytes);
    this.unsentControl += Math.min(signedBytes, 0); // a control frame's bytes leave the count
    this.bytesInTransport -= bytes;
    this.options.memory.release(bytes);
    if (this.paused && !this.transportOver && this.unsentControl <= this.options.pauseReadingAt / 2) {
      this.paused = false;
      this.options.memory.release(this.pausedBytes);
      this.conn.resumeReading();
    }
    this.pump(); // frames that waited for room, if any
  }

  /** The tunnel RPC is over: whatever the transport held is gone. */
  private releaseAll(): void {
    this.transportOver = true;
    if (this.paused) {
      this.options.memory.release(this.pausedBytes);
    }
    while (this.inTransport.size > 0) {
      const signedBytes = this.inTransport.shift();
      this.options.memory.release(Math.abs(signedBytes));
    }
    this.bytesInTransport = 0;
    this.unsentControl = 0;
  }
}
