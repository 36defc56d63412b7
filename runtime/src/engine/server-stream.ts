import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { ReceiveWindow, SendWindow } from "../protocol/flow-control.js";
import { responseFrames, serverFrames } from "../protocol/frames.js";
import { metadataToProto } from "../protocol/metadata-codec.js";
import { statusToProto } from "../protocol/status-codec.js";
import { deadlineTimer } from "../protocol/timeout.js";
import type { AuthContext } from "./auth-context.js";
import type { FrameWriter } from "./frame-conn.js";
import type { TunnelLimits } from "./limits.js";
import { MessageQueue } from "./message-queue.js";
import { MessageSender } from "./message-sender.js";

export interface ServerStreamInit {
  id: bigint;
  method: string;
  metadata: Metadata;
  tunnelMetadata: Metadata;
  peer: string;
  authContext: AuthContext | undefined;
  writer: FrameWriter<ServerToClient>;
  /** Revision 1: the client's window for our responses; undefined: revision 0. */
  sendWindowSize: number | undefined;
  limits: TunnelLimits;
  /** Absolute deadline from `grpc-timeout` (ms since the epoch). */
  deadline: number | undefined;
  /** The protocol revision the client chose for this stream. */
  protocolRevision: 0 | 1;
  onFinish: (stream: ServerStream) => void;
}

/**
 * The server end of one tunneled call, as a method handler sees it in bytes:
 * read requests, set and send headers, send responses, set trailers. The
 * stream ends when the handler settles, or earlier on cancel, deadline or
 * tunnel end, which abort `signal`.
 */
export class ServerStream {
  readonly id: bigint;
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
  private readonly writer: FrameWriter<ServerToClient>;
  private readonly queue: MessageQueue;
  private readonly sender: MessageSender<ServerToClient>;
  private readonly onFinish: (stream: ServerStream) => void;
  private headersSent = false;
  private finishedWith: { error: TunnelError | undefined } | undefined;
  private handlerSettled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(init: ServerStreamInit) {
    this.id = init.id;
    this.method = init.method;
    this.metadata = init.metadata;
    this.tunnelMetadata = init.tunnelMetadata;
    this.peer = init.peer;
    this.authContext = init.authContext;
    this.protocolRevision = init.protocolRevision;
    this.writer = init.writer;
    this.onFinish = init.onFinish;
    const flowControl = init.sendWindowSize !== undefined;
    this.queue = new MessageQueue({
      what: "request",
      violationCode: Code.INVALID_ARGUMENT,
      window: flowControl
        ? new ReceiveWindow(init.limits.receiveWindowBytes, (credit) => this.writer.write(serverFrames.windowUpdate(this.id, credit)))
        : undefined,
      maxMessageBytes: init.limits.maxReceiveMessageBytes,
      maxBufferedBytes: init.limits.maxBufferedBytesPerStream,
    });
    this.sender = new MessageSender(
      this.writer,
      responseFrames,
      this.id,
      flowControl ? new SendWindow(init.sendWindowSize!) : undefined,
      () => this.finishedWith && (this.finishedWith.error ?? new TunnelError(Code.INTERNAL, "call already completed")),
    );
    if (init.deadline !== undefined) {
      this.deadline = new Date(init.deadline);
      this.timer = deadlineTimer(init.deadline, (error) => this.finish(error));
    }
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

  /** Headers to send with the first response (or at the end); merge into them freely. */
  get responseHeaders(): Metadata {
    return (this.headers ??= new Metadata());
  }

  /** Trailers to send when the call ends. */
  get responseTrailers(): Metadata {
    return (this.trailers ??= new Metadata());
  }

  get done(): boolean {
    return this.finishedWith !== undefined;
  }

  /** The next request message, or undefined after the client half-closed. */
  read(): Promise<Uint8Array | undefined> {
    return this.queue.read();
  }

  /** Sends the response headers now (they are sent automatically otherwise). */
  sendHeaders(): void {
    if (this.headersSent) {
      throw new TunnelError(Code.INTERNAL, "response headers were already sent");
    }
    if (this.finishedWith === undefined) {
      this.writeHeaders();
    }
  }

  /** Sends one response message (already serialized). */
  send(message: Uint8Array): Promise<void> {
    if (this.finishedWith === undefined && !this.headersSent) {
      try {
        this.writeHeaders();
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.sender.send(message);
  }

  /** The handler settled; ends the call with its outcome. */
  complete(error: TunnelError | undefined): void {
    this.handlerSettled = true;
    this.finish(error);
  }

  /**
   * Ends the call: sends headers (if not yet sent) and `close_stream` with
   * the trailers and status. Later calls do nothing.
   */
  finish(error: TunnelError | undefined): void {
    if (this.finishedWith !== undefined) {
      return;
    }
    this.finishedWith = { error };
    let trailers = this.trailers;
    if (error !== undefined) {
      trailers = trailers?.clone() ?? new Metadata();
      trailers.merge(error.metadata);
    }
    try {
      if (!this.headersSent) {
        this.writeHeaders();
      }
      this.writer.write(serverFrames.close(this.id, metadataToProto(trailers), statusToProto(error)));
    } catch (e) {
      // Trailers that cannot be encoded: still end the call, with the reason.
      this.writer.write(serverFrames.close(this.id, metadataToProto(undefined), statusToProto(TunnelError.from(e, Code.INTERNAL))));
    }
    this.cleanUp(error);
  }

  /** The tunnel ended under this call: nothing can be sent any more. */
  tunnelEnded(error: TunnelError): void {
    if (this.finishedWith !== undefined) {
      return;
    }
    this.finishedWith = { error };
    this.cleanUp(error);
  }

  // ---- called by the engine for frames of this stream ----

  handleEnvelope(size: number, data: Uint8Array): void {
    this.failOnViolation(this.queue.envelope(size, data));
  }

  handleMore(data: Uint8Array): void {
    this.failOnViolation(this.queue.more(data));
  }

  handleHalfClose(): void {
    if (this.queue.endedMidMessage) {
      this.finish(new TunnelError(Code.INVALID_ARGUMENT, "request stream half-closed in the middle of a message"));
      return;
    }
    this.queue.end();
  }

  handleCancel(): void {
    this.finish(new TunnelError(Code.CANCELLED, "call cancelled by client"));
  }

  handleWindowUpdate(credit: number): void {
    if (this.sender.window !== undefined && !this.sender.window.grant(credit)) {
      this.finish(new TunnelError(Code.INVALID_ARGUMENT, "protocol error: window update overflows the send window"));
    }
  }

  private failOnViolation(error: TunnelError | undefined): void {
    if (error !== undefined) {
      this.finish(error);
    }
  }

  private writeHeaders(): void {
    const headers = metadataToProto(this.headers);
    this.headersSent = true;
    this.writer.write(serverFrames.headers(this.id, headers));
  }

  private cleanUp(error: TunnelError | undefined): void {
    clearTimeout(this.timer);
    if (error !== undefined) {
      this.queue.fail(error);
      if (!this.handlerSettled) {
        this.abortReason = error;
        this.controller?.abort(error);
      }
    } else {
      this.queue.end();
    }
    this.sender.stop();
    this.onFinish(this);
  }
}
