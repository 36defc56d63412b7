import type { TunnelError } from "../errors.js";

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
  readonly undecodable: string;
}

export function isUndecodable(frame: object): frame is UndecodableFrame {
  return "undecodable" in frame;
}

/**
 * Writes frames to a FrameConn and tracks its back-pressure. Control frames
 * are always written at once; message data waits for `whenWritable` while
 * the transport is full, so one tunnel never buffers without bound.
 */
export class FrameWriter<Out> {
  private blocked = false;
  private closed = false;
  private waiters: Array<() => void> = [];

  constructor(private readonly conn: FrameConn<Out>) {
    conn.onDrain(() => {
      this.blocked = false;
      this.wake();
    });
  }

  write(frame: Out): void {
    if (this.closed) {
      return;
    }
    if (!this.conn.write(frame)) {
      this.blocked = true;
    }
  }

  get writable(): boolean {
    return !this.blocked || this.closed;
  }

  /** Resolves when the transport drained or the writer was closed. */
  whenWritable(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Drops every later frame and releases waiting senders. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) {
      wake();
    }
  }
}
