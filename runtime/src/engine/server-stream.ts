import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import type { TunnelEnd } from "../ended.js";
import { TunnelError } from "../errors.js";
import type { ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { responseFrames, serverFrames } from "../protocol/frames.js";
import { metadataToProto } from "../protocol/metadata-codec.js";
import { statusToProto } from "../protocol/status-codec.js";
import type { AuthContext } from "./auth-context.js";
import type { IdleCandidate } from "./idle-streams.js";
import type { EXTRA_MESSAGE } from "./message-queue.js";
import { StreamCore, type StreamCoreInit, type StreamRole } from "./stream-core.js";

export interface ServerStreamInit extends StreamCoreInit<ServerToClient> {
  method: string;
  metadata: Metadata;
  tunnelMetadata: Metadata;
  peer: string;
  authContext: AuthContext | undefined;
  /** The protocol revision the client chose for this stream. */
  protocolRevision: 0 | 1;
}

const serverRole: StreamRole<ServerToClient> = {
  receives: "request",
  violationCode: Code.INVALID_ARGUMENT,
  dataFrames: responseFrames,
  windowUpdate: serverFrames.windowUpdate,
};

/**
 * The server end of one tunneled call, as a method handler sees it in bytes:
 * read requests, set and send headers, send responses, set trailers. The
 * stream ends when the handler settles (`close`), or earlier when it is
 * cancelled (by the client, its deadline or a violation) or the tunnel
 * ends (`fail`); both abort `signal`.
 */
export class ServerStream extends StreamCore<ServerToClient, TunnelEnd> implements IdleCandidate {
  /** The full method name, "/pkg.Service/Method". */
  readonly method: string;
  /** The call's request metadata (without `grpc-timeout`). */
  readonly metadata: Metadata;
  /** The request metadata of the tunnel RPC that carries this call. */
  readonly tunnelMetadata: Metadata;
  /** The network peer at the other end of the tunnel RPC. */
  readonly peer: string;
  /** The tunnel RPC's transport security (forward tunnels, on the network server). */
  readonly authContext: AuthContext | undefined;
  readonly deadline: Date | undefined;
  /** The protocol revision of this stream: 1 with flow control, 0 without. */
  readonly protocolRevision: 0 | 1;
  // Created on first use: most calls set no headers or trailers, and many
  // handlers never look at their signal (a server may hold 10,000s of calls).
  private headers: Metadata | undefined;
  private trailers: Metadata | undefined;
  private controller: AbortController | undefined;
  private abortReason: TunnelError | undefined;
  private abortListener: ((reason: TunnelError) => void) | undefined;
  private headersSent = false;
  private handlerSettled = false;
  /** Heard from (a message or half-close) or answered (headers sent): never idle. */
  active = false;

  constructor(init: ServerStreamInit) {
    super(serverRole, init);
    this.method = init.method;
    this.metadata = init.metadata;
    this.tunnelMetadata = init.tunnelMetadata;
    this.peer = init.peer;
    this.authContext = init.authContext;
    this.protocolRevision = init.protocolRevision;
    this.deadline = init.deadline === undefined ? undefined : new Date(init.deadline);
  }

  /** Aborted when the call is cancelled, its deadline passes or the tunnel ends. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortReason !== undefined) {
        this.controller.abort(this.abortReason);
      }
    }
    return this.controller.signal;
  }

  /**
   * Calls `listener` once when `signal` would abort (at once if it has),
   * without making the signal: a relay passes the cancellation on to the
   * call it started, and an AbortSignal per relayed call costs more than
   * the relay's own work. One listener per stream.
   */
  whenAborted(listener: (reason: TunnelError) => void): void {
    if (this.abortReason !== undefined) {
      listener(this.abortReason);
    } else {
      this.abortListener = listener;
    }
  }

  /** Headers to send with the first response (or at the end); merge into them freely. */
  get responseHeaders(): Metadata {
    return (this.headers ??= new Metadata());
  }

  /** Trailers to send when the call ends. */
  get responseTrailers(): Metadata {
    return (this.trailers ??= new Metadata());
  }

  /** The next request message, or undefined after the client half-closed. */
  read(): Promise<Uint8Array | undefined> {
    return this.queue.read();
  }

  /**
   * The one request of a unary or server-streaming call, with the
   * half-close, in one read (see MessageQueue.readOnly): undefined when
   * none came, EXTRA_MESSAGE when a second one did.
   */
  readOnly(): Promise<Uint8Array | undefined | typeof EXTRA_MESSAGE> {
    return this.queue.readOnly();
  }

  /** Sends the response headers now (they are sent automatically otherwise). */
  sendHeaders(): void {
    if (this.headersSent) {
      throw new TunnelError(Code.INTERNAL, "response headers were already sent");
    }
    if (this.ended === undefined) {
      this.writeHeaders();
    }
  }

  /** Sends one response message (already serialized). */
  send(message: Uint8Array): Promise<void> {
    if (this.ended === undefined && !this.headersSent) {
      try {
        this.writeHeaders();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.sendMessage(message);
  }

  /** The handler settled: ends the call with its outcome. */
  close(error: TunnelError | undefined): void {
    this.handlerSettled = true;
    this.writeEnd(error);
  }

  cancel(reason: TunnelError = new TunnelError(Code.CANCELLED, "call cancelled")): void {
    this.writeEnd(reason);
  }

  /**
   * Ends the call with a `close_stream` and no headers, as a server rejects
   * a stream it does not take: with UNAVAILABLE or RESOURCE_EXHAUSTED the
   * client knows no handler saw the call (`CallEnd.refused`) and may send
   * it elsewhere. A relay also ends this way a call whose far end sent no
   * headers. Throws once headers were sent.
   */
  reject(error: TunnelError): void {
    if (this.headersSent) {
      throw new TunnelError(Code.INTERNAL, "cannot reject a call whose response headers were sent");
    }
    this.writeEnd(error, false);
  }

  fail(error: TunnelError): void {
    if (this.markEnded({ error })) {
      this.settle(error);
    }
  }

  /**
   * Charges memory the call holds besides the stream (an adapter's call
   * objects). False when a budget refuses: the call has then failed with
   * RESOURCE_EXHAUSTED.
   */
  reserveMemory(bytes: number): boolean {
    const refused = this.memory.charge(bytes);
    if (refused !== undefined) {
      this.cancel(refused);
      return false;
    }
    return true;
  }

  /** Nothing came from the client and nothing was answered in time (the idle stream timeout). */
  expireIdle(timeoutMs: number): void {
    this.cancel(
      new TunnelError(
        Code.DEADLINE_EXCEEDED,
        `no request message or half-close within ${timeoutMs} ms of the call's start (idleStreamTimeoutMs)`,
      ),
    );
  }

  // ---- frames only the server receives ----

  override handleEnvelope(size: number, data: Uint8Array): void {
    this.active = true;
    super.handleEnvelope(size, data);
  }

  override handleMore(data: Uint8Array): void {
    this.active = true;
    super.handleMore(data);
  }

  handleHalfClose(): void {
    this.active = true;
    if (this.queue.endedMidMessage) {
      this.receiveViolation(new TunnelError(Code.INVALID_ARGUMENT, "request stream half-closed in the middle of a message"));
      return;
    }
    this.queue.end();
  }

  handleCancel(): void {
    this.cancel(new TunnelError(Code.CANCELLED, "call cancelled by client"));
  }

  /**
   * Ends the call from this side: sends headers (if not yet sent, unless
   * `withHeaders` is false) and `close_stream` with the trailers and
   * status. Later calls do nothing.
   */
  private writeEnd(error: TunnelError | undefined, withHeaders = true): void {
    if (!this.markEnded({ error })) {
      return;
    }
    let trailers = this.trailers;
    if (error !== undefined) {
      trailers = trailers?.clone() ?? new Metadata();
      trailers.merge(error.metadata);
    }
    try {
      if (!this.headersSent && withHeaders) {
        this.writeHeaders();
      }
      this.writer.write(serverFrames.close(this.id, metadataToProto(trailers), statusToProto(error)));
    } catch (e) {
      // Trailers that cannot be encoded: still end the call, with the reason.
      this.writer.write(serverFrames.close(this.id, metadataToProto(undefined), statusToProto(TunnelError.from(e, Code.INTERNAL))));
    }
    this.settle(error);
  }

  private writeHeaders(): void {
    const headers = metadataToProto(this.headers);
    this.headersSent = true;
    this.active = true;
    this.writer.write(serverFrames.headers(this.id, headers));
  }

  /** Settles the reader and, unless the handler itself ended the call, aborts its signal. */
  private settle(error: TunnelError | undefined): void {
    if (error !== undefined) {
      this.queue.fail(error);
      if (!this.handlerSettled) {
        this.abortReason = error;
        this.controller?.abort(error);
        this.abortListener?.(error);
      }
    } else {
      this.queue.end();
    }
    this.released();
  }
}
