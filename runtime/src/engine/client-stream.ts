import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import type { CallEnd } from "../ended.js";
import { TunnelError } from "../errors.js";
import type { ClientToServer, CloseStream, Metadata as ProtoMetadata } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { clientFrames, requestFrames } from "../protocol/frames.js";
import { metadataFromProto } from "../protocol/metadata-codec.js";
import { errorFromStatus } from "../protocol/status-codec.js";
import { metadataBytes } from "./memory-costs.js";
import type { EXTRA_MESSAGE } from "./message-queue.js";
import { StreamCore, type StreamCoreInit, type StreamRole } from "./stream-core.js";

export interface ClientStreamInit extends StreamCoreInit<ClientToServer> {
  method: string;
  signal: AbortSignal | undefined;
  onHeader: ((headers: Metadata) => void) | undefined;
  /** Told how the call ended, once, synchronously (cheaper than `done.then` for the engine's users). */
  onEnd?: ((end: CallEnd) => void) | undefined;
}

const clientRole: StreamRole<ClientToServer> = {
  receives: "response",
  violationCode: Code.INTERNAL,
  dataFrames: requestFrames,
  windowUpdate: clientFrames.windowUpdate,
};

/**
 * The client end of one tunneled call: sends requests, receives headers,
 * responses and the final status. It is what the api layer hands out as a
 * CallStream (structurally: the engine does not import the api layer). Cancelling
 * (abort signal, deadline or `cancel`) sends a `cancel` frame and ends the
 * call locally at once.
 */
export class ClientStream extends StreamCore<ClientToServer, CallEnd> {
  readonly method: string;
  // `done` is made when first asked for: most calls end without anyone awaiting it.
  private donePromise: Promise<CallEnd> | undefined;
  private resolveDone: ((end: CallEnd) => void) | undefined;
  private readonly onEnd: ((end: CallEnd) => void) | undefined;
  private readonly maxMetadataBytes: number;
  private headers: Metadata | undefined;
  private readonly onHeader: ((headers: Metadata) => void) | undefined;
  private halfClosed = false;
  /** A response message (or part of one) arrived: a handler has seen the call. */
  private responded = false;
  private readonly signal: AbortSignal | undefined;
  /** Made only for a call with a signal (most have none). */
  private readonly abortListener: (() => void) | undefined;

  constructor(init: ClientStreamInit) {
    super(clientRole, init);
    this.method = init.method;
    this.maxMetadataBytes = init.limits.maxMetadataBytes;
    this.onHeader = init.onHeader;
    this.onEnd = init.onEnd;
    const signal = init.signal;
    this.signal = signal;
    if (signal !== undefined) {
      this.abortListener = () => this.cancel(TunnelError.from(signal.reason, Code.CANCELLED));
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: equivalent: a signal aborts once, and the call removes its listener as it ends
      signal.addEventListener("abort", this.abortListener, { once: true });
    }
  }

  /** How the call ended (see CallStream.done). */
  get done(): Promise<CallEnd> {
    if (this.donePromise === undefined) {
      const ended = this.ended;
      this.donePromise =
        ended !== undefined
          ? Promise.resolve(ended)
          : new Promise((resolve) => {
              this.resolveDone = resolve;
            });
    }
    return this.donePromise;
  }

  /** Sends one request message (already serialized). */
  send(message: Uint8Array): Promise<void> {
    if (this.halfClosed && this.ended === undefined) {
      return Promise.reject(new TunnelError(Code.INTERNAL, "cannot send after the request stream was closed"));
    }
    return this.sendMessage(message);
  }

  /** No more requests: sends `half_close`. */
  closeSend(): void {
    if (this.halfClosed || this.ended !== undefined) {
      return;
    }
    this.halfClosed = true;
    this.writer.write(clientFrames.halfClose(this.id));
  }

  /**
   * The next response message, or undefined when the server closed the call
   * successfully and every message was read. Throws the call's error.
   */
  read(): Promise<Uint8Array | undefined> {
    return this.queue.read(); // the queue ends with the call's error (see end)
  }

  /**
   * The one response of a unary or client-streaming call, with the call's
   * successful end, in one read (see MessageQueue.readOnly): undefined when
   * none came, EXTRA_MESSAGE when a second one did. Throws the call's error.
   */
  readOnly(): Promise<Uint8Array | undefined | typeof EXTRA_MESSAGE> {
    return this.queue.readOnly();
  }

  /** Tells the server (unless the call already ended) and fails the call with `reason`. */
  cancel(reason?: TunnelError): void {
    if (this.ended !== undefined) {
      return;
    }
    this.writer.write(clientFrames.cancel(this.id));
    this.end(reason ?? new TunnelError(Code.CANCELLED, "call cancelled"), new Metadata(), true);
  }

  /** The tunnel ended under this call: the peer is not told. */
  fail(error: TunnelError): void {
    this.end(error, new Metadata(), true);
  }

  override handleEnvelope(size: number, data: Uint8Array): void {
    this.responded = true;
    super.handleEnvelope(size, data);
  }

  // ---- frames only the client receives ----

  handleHeaders(proto: ProtoMetadata): void {
    if (this.headers !== undefined) {
      return; // at most once (an ended call has had its empty ones); later copies are ignored, like Go
    }
    let headers: Metadata;
    try {
      headers = metadataFromProto(proto, Code.INTERNAL, this.maxMetadataBytes);
    } catch (e) {
      this.receiveViolation(TunnelError.from(e, Code.INTERNAL));
      return;
    }
    // Held for the rest of the call.
    this.receiveViolation(this.memory.charge(metadataBytes(proto)));
    if (this.ended === undefined) {
      this.deliverHeaders(headers);
    }
  }

  handleClose(close: CloseStream): void {
    let trailers: Metadata;
    try {
      trailers = metadataFromProto(close.responseTrailers, Code.INTERNAL, this.maxMetadataBytes);
    } catch (e) {
      // The server has ended the stream already: nothing to tell it.
      this.end(TunnelError.from(e, Code.INTERNAL), new Metadata(), false);
      return;
    }
    const error = errorFromStatus(close.status, trailers);
    this.end(error, trailers, false, isRefusal(error) && this.headers === undefined && !this.responded);
  }

  private deliverHeaders(headers: Metadata): void {
    this.headers = headers;
    this.onHeader?.(headers);
  }

  /**
   * Ends the call. A `local` end discards unread responses; a close from
   * the server lets the reader drain what already arrived.
   */
  private end(error: TunnelError | undefined, trailers: Metadata, local: boolean, refused = false): void {
    const end: CallEnd = refused ? { error, trailers, refused } : { error, trailers };
    if (!this.markEnded(end)) {
      return;
    }
    if (this.abortListener !== undefined) {
      this.signal?.removeEventListener("abort", this.abortListener);
    }
    if (this.headers === undefined) {
      this.deliverHeaders(new Metadata());
    }
    if (local && error !== undefined) {
      this.queue.fail(error);
    } else if (this.queue.endedMidMessage) {
      this.queue.fail(error ?? new TunnelError(Code.INTERNAL, "server closed the stream in the middle of a message"));
    } else {
      this.queue.end(error);
    }
    this.released();
    this.resolveDone?.(end);
    this.onEnd?.(end);
  }
}

/** The codes a server refuses a stream with when another tunnel could take it (never UNIMPLEMENTED, INVALID_ARGUMENT, ...). */
function isRefusal(error: TunnelError | undefined): boolean {
  return error !== undefined && (error.code === Code.UNAVAILABLE || error.code === Code.RESOURCE_EXHAUSTED);
}
