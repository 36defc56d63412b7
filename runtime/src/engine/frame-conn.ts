import type { TunnelError } from "../errors.js";
import { Fifo } from "./fifo.js";

/**
 * The outbound half of a tunnel transport, as the engines see it: the tunnel
 * RPC's send side. Adapters exist for each of the four grpc-js call objects
 * (client/server × forward/reverse); tests can provide their own.
 */
export interface FrameConn<Out> {
  /** Queues a frame; false when the transport wants the writer to wait for drain. */
  write(frame: Out): boolean;
  /** Registers the listener for "the transport can take more again". */
  onDrain(listener: () => void): void;
  /** Ends the tunnel RPC cleanly from this side. */
  end(): void;
  /** Tears the tunnel RPC down with an error. */
  abort(error: TunnelError): void;
}

/** The inbound half: what a transport adapter feeds to an engine. */
export interface FrameSink<In> {
  /** A frame arrived (or could not be decoded, see `UndecodableFrame`). */
  receive(frame: In | UndecodableFrame): void;
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
 */
export class FrameWriter<Out> {
  private blocked = false;
  private closed = false;
  private readonly data = new Fifo<QueuedData<Out>>();

  constructor(private readonly conn: FrameConn<Out>) {
    conn.onDrain(() => {
      this.blocked = false;
      this.pump();
    });
  }

  /** Writes a control frame now, whatever the back-pressure. */
  write(frame: Out): void {
    if (this.closed) {
      return;
    }
    if (!this.conn.write(frame)) {
      this.blocked = true;
    }
  }

  /**
   * Writes a data frame now if the transport takes more (returns undefined),
   * else queues it and returns a promise that resolves once it was written,
   * or dropped because its source ended or the writer was closed.
   */
  writeData(frame: Out, source: DataSource): Promise<void> | undefined {
    if (this.closed || (!this.blocked && this.data.size === 0)) {
      this.write(frame);
      return undefined;
    }
    return new Promise((written) => this.data.push({ frame, source, written }));
  }

  /** Drops queued data and every later frame, and releases queued senders. */
  close(): void {
    this.closed = true;
    this.pump();
  }

  private pump(): void {
    while ((!this.blocked || this.closed) && this.data.size > 0) {
      const next = this.data.shift();
      if (!next.source.hasEnded()) {
        this.write(next.frame); // a no-op once closed
      }
      next.written();
    }
  }
}
