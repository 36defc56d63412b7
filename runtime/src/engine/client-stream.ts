import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { ClientToServer, CloseStream, Metadata as ProtoMetadata } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { SendWindow, ReceiveWindow } from "../protocol/flow-control.js";
import { clientFrames, requestFrames } from "../protocol/frames.js";
import { metadataFromProto } from "../protocol/metadata-codec.js";
import { errorFromStatus } from "../protocol/status-codec.js";
import { deadlineTimer } from "../protocol/timeout.js";
import type { FrameWriter } from "./frame-conn.js";
import type { TunnelLimits } from "./limits.js";
import { MessageQueue } from "./message-queue.js";
import { MessageSender } from "./message-sender.js";

/** How a tunneled call ended, as the client saw it. */
export interface CallOutcome {
  /** Undefined when the call succeeded. */
  error: TunnelError | undefined;
  trailers: Metadata;
}

export interface ClientStreamInit {
  id: bigint;
  method: string;
  writer: FrameWriter<ClientToServer>;
  /** Revision 1: the server's window for our requests; undefined: revision 0. */
  sendWindowSize: number | undefined;
  limits: TunnelLimits;
  /** Absolute deadline (ms since the epoch). */
  deadline: number | undefined;
  signal: AbortSignal | undefined;
  onHeaders: ((headers: Metadata) => void) | undefined;
  onFinish: (stream: ClientStream) => void;
}

/**
 * The client end of one tunneled call: sends requests, receives headers,
 * responses and the final status. Cancellation (abort signal, deadline or
 * `cancel`) sends a `cancel` frame and ends the call locally at once.
 */
export class ClientStream {
  readonly id: bigint;
  readonly method: string;
  private readonly writer: FrameWriter<ClientToServer>;
  private readonly queue: MessageQueue;
  private readonly sender: MessageSender<ClientToServer>;
  private readonly onFinish: (stream: ClientStream) => void;
  private readonly maxMetadataBytes: number;
  private headers: Metadata | undefined;
  private readonly headersListener: ((headers: Metadata) => void) | undefined;
  private outcome: CallOutcome | undefined;
  private resolveFinished!: (outcome: CallOutcome) => void;
  private halfClosed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly abortListener = () => this.cancel(TunnelError.from(this.signal?.reason, Code.CANCELLED));
  /** Resolves once the call has ended, however it ended. */
  readonly finished: Promise<CallOutcome>;

  constructor(init: ClientStreamInit) {
    this.id = init.id;
    this.method = init.method;
    this.writer = init.writer;
    this.onFinish = init.onFinish;
    this.maxMetadataBytes = init.limits.maxMetadataBytes;
    this.headersListener = init.onHeaders;
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    const flowControl = init.sendWindowSize !== undefined;
    this.queue = new MessageQueue({
      what: "response",
      violationCode: Code.INTERNAL,
      window: flowControl
        ? new ReceiveWindow(init.limits.receiveWindowBytes, (credit) => this.writer.write(clientFrames.windowUpdate(this.id, credit)))
        : undefined,
      maxMessageBytes: init.limits.maxReceiveMessageBytes,
      maxBufferedBytes: init.limits.maxBufferedBytesPerStream,
    });
    this.sender = new MessageSender(
      this.writer,
      requestFrames,
      this.id,
      flowControl ? new SendWindow(init.sendWindowSize!) : undefined,
      () => this.outcome?.error ?? (this.outcome ? new TunnelError(Code.INTERNAL, "call already completed") : undefined),
    );
    this.signal = init.signal;
    this.signal?.addEventListener("abort", this.abortListener, { once: true });
    if (init.deadline !== undefined) {
      this.timer = deadlineTimer(init.deadline, (error) => this.cancel(error));
    }
  }

  /** True once the call has ended. */
  get done(): boolean {
    return this.outcome !== undefined;
  }

  /** Sends one request message (already serialized). */
  send(message: Uint8Array): Promise<void> {
    if (this.halfClosed && this.outcome === undefined) {
      return Promise.reject(new TunnelError(Code.INTERNAL, "cannot send after the request stream was closed"));
    }
    return this.sender.send(message);
  }

  /** No more requests: sends `half_close`. */
  closeSend(): void {
    if (this.halfClosed || this.outcome !== undefined) {
      return;
    }
    this.halfClosed = true;
    this.writer.write(clientFrames.halfClose(this.id));
  }

  /**
   * The next response message, or undefined when the server closed the call
   * successfully and every message was read. Throws the call's error.
   */
  async read(): Promise<Uint8Array | undefined> {
    const message = await this.queue.read();
    if (message === undefined) {
      const outcome = await this.finished;
      if (outcome.error !== undefined) {
        throw outcome.error;
      }
    }
    return message;
  }

  /**
   * Cancels the call: tells the server (unless the call already ended) and
   * fails it locally with `reason` (CANCELLED by default).
   */
  cancel(reason?: TunnelError): void {
    if (this.outcome !== undefined) {
      return;
    }
    this.writer.write(clientFrames.cancel(this.id));
    this.finish(reason ?? new TunnelError(Code.CANCELLED, "call cancelled"), new Metadata(), true);
  }

  // ---- called by the engine for frames of this stream ----

  handleHeaders(proto: ProtoMetadata): void {
    if (this.headers !== undefined || this.outcome !== undefined) {
      return; // at most once; later copies are ignored, like Go
    }
    try {
      this.deliverHeaders(metadataFromProto(proto, Code.INTERNAL, this.maxMetadataBytes));
    } catch (e) {
      this.cancel(TunnelError.from(e, Code.INTERNAL));
    }
  }

  handleEnvelope(size: number, data: Uint8Array): void {
    this.failOnViolation(this.queue.envelope(size, data));
  }

  handleMore(data: Uint8Array): void {
    this.failOnViolation(this.queue.more(data));
  }

  handleWindowUpdate(credit: number): void {
    if (this.sender.window !== undefined && !this.sender.window.grant(credit)) {
      this.cancel(new TunnelError(Code.INTERNAL, "protocol error: window update overflows the send window"));
    }
  }

  handleClose(close: CloseStream): void {
    let trailers: Metadata;
    try {
      trailers = metadataFromProto(close.responseTrailers, Code.INTERNAL, this.maxMetadataBytes);
    } catch (e) {
      this.finish(TunnelError.from(e, Code.INTERNAL), new Metadata(), false);
      return;
    }
    this.finish(errorFromStatus(close.status, trailers), trailers, false);
  }

  /** The stream broke for a reason the peer does not need to hear about. */
  fail(error: TunnelError): void {
    this.finish(error, new Metadata(), true);
  }

  private failOnViolation(error: TunnelError | undefined): void {
    if (error !== undefined) {
      this.cancel(error);
    }
  }

  private deliverHeaders(headers: Metadata): void {
    this.headers = headers;
    this.headersListener?.(headers);
  }

  /**
   * Ends the call. `local` failures discard unread responses; a close from
   * the server lets the reader drain what already arrived.
   */
  private finish(error: TunnelError | undefined, trailers: Metadata, local: boolean): void {
    if (this.outcome !== undefined) {
      return;
    }
    this.outcome = { error, trailers };
    clearTimeout(this.timer);
    this.signal?.removeEventListener("abort", this.abortListener);
    if (this.headers === undefined) {
      this.deliverHeaders(new Metadata());
    }
    if (local && error !== undefined) {
      this.queue.fail(error);
    } else if (this.queue.endedMidMessage) {
      this.queue.fail(error ?? new TunnelError(Code.INTERNAL, "server closed the stream in the middle of a message"));
    } else {
      this.queue.end();
    }
    this.sender.stop();
    this.onFinish(this);
    this.resolveFinished(this.outcome);
  }
}
