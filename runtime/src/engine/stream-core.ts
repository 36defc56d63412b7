import { Code } from "../code.js";
import type { CallInfo } from "../diagnostics/events.js";
import type { TunnelEnd } from "../ended.js";
import { TunnelError } from "../errors.js";
import { ReceiveWindow, SendWindow, type CreditSink } from "../protocol/flow-control.js";
import type { MessageFrames } from "../protocol/frames.js";
import { deadlineTimer } from "../protocol/timeout.js";
import type { FrameWriter } from "./frame-conn.js";
import type { TunnelLimits } from "./limits.js";
import type { StreamMemory } from "./memory-budget.js";
import { MessageQueue } from "./message-queue.js";
import { type ChunkLimit, MessageSender, type SenderOwner } from "./message-sender.js";

/*
 * Ending a stream: the same words on both ends (ClientStream, ServerStream).
 *
 *   cancel(reason)  This end gives up on the call and tells the peer: the
 *                   client sends `cancel`; the server, which has no such
 *                   frame, sends `close_stream` with the reason. Deadlines,
 *                   aborted signals and receive-path violations all cancel.
 *   close           The call's own end, with its status: the server sends
 *                   `close_stream` once its handler settled (`close(error)`);
 *                   the client receives it (`handleClose`) and its reader
 *                   still drains what arrived before.
 *   fail(error)     The tunnel ended under the stream: nothing can be sent
 *                   any more, and a reader gets `error`.
 *   closeSend()     (client) No more requests: `half_close`. Not an end.
 *
 * Whatever ends a stream, `closed` is true from then on and the engine
 * forgets it.
 */

/** What differs between the two ends of a stream, as the shared core sees it. */
export interface StreamRole<Out> {
  /** What this end receives: requests (the tunnel server) or responses (the tunnel client). */
  receives: "request" | "response";
  /**
   * The code of a receive-path violation: INVALID_ARGUMENT on the server
   * (the client sent a malformed request stream), INTERNAL on the client
   * (the server broke the protocol), as in Go.
   */
  violationCode: Code;
  /** The frames this end sends its messages in. */
  dataFrames: MessageFrames<Out>;
  windowUpdate(streamId: bigint, credit: number): Out;
}

export interface StreamCoreInit<Out> {
  id: bigint;
  writer: FrameWriter<Out>;
  /** Revision 1: the peer's window for what we send; undefined: revision 0. */
  sendWindowSize: number | undefined;
  limits: TunnelLimits;
  /** The tunnel's chunk limit for what this stream sends. */
  chunks: ChunkLimit;
  /** Absolute deadline (ms since the epoch): the stream is cancelled then. */
  deadline: number | undefined;
  /** What the stream holds, charged to its tunnel's budget; released when it ends. */
  memory: StreamMemory;
  /** Told once when the stream has ended, so it forgets it: the engine (an object, not a closure per stream). */
  owner: StreamOwner;
}

/** Where a stream reports its end: its engine. */
export interface StreamOwner {
  streamClosed(id: bigint): void;
}

/**
 * One stream of a tunnel, the part both ends share: the queue of received
 * chunks with its receive window, the sender with its send window, the
 * deadline timer, and the handlers of the frames both ends receive (message
 * data and window updates).
 */
export abstract class StreamCore<Out, End extends TunnelEnd> implements CreditSink, SenderOwner {
  readonly id: bigint;
  protected readonly writer: FrameWriter<Out>;
  protected readonly queue: MessageQueue;
  protected readonly sender: MessageSender<Out>;
  protected readonly memory: StreamMemory;
  /** How the stream ended; undefined while it runs. */
  protected ended: End | undefined;
  /** performance.now() at the start, for the duration diagnostics report. */
  readonly startedAt = performance.now();
  /** This call as diagnostics report it; made by the engine only when someone subscribes. */
  callInfo: CallInfo | undefined = undefined;
  private readonly role: StreamRole<Out>;
  private readonly owner: StreamOwner;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(role: StreamRole<Out>, init: StreamCoreInit<Out>) {
    this.role = role;
    const id = init.id;
    const writer = init.writer;
    this.id = id;
    this.writer = writer;
    this.owner = init.owner;
    const flowControl = init.sendWindowSize !== undefined;
    const { limits, memory } = init;
    this.memory = memory;
    this.queue = new MessageQueue({
      what: role.receives,
      violationCode: role.violationCode,
      window: flowControl ? new ReceiveWindow(limits.receiveWindowBytes, limits.maxReceiveWindowBytes, this) : undefined,
      maxMessageBytes: limits.maxReceiveMessageBytes,
      maxBufferedBytes: limits.maxBufferedBytesPerStream,
      memory,
    });
    this.sender = new MessageSender(
      writer,
      role.dataFrames,
      id,
      init.chunks,
      flowControl ? new SendWindow(init.sendWindowSize!) : undefined,
      this,
    );
    this.timer = init.deadline === undefined ? undefined : deadlineTimer(init.deadline, (error) => this.cancel(error));
  }

  /** CreditSink: the receive window returns credit to the peer. */
  sendCredit(credit: number): void {
    this.writer.write(this.role.windowUpdate(this.id, credit));
  }

  /** SenderOwner: the error a send fails with once the stream has ended. */
  endedWith(): TunnelError | undefined {
    return this.ended && (this.ended.error ?? new TunnelError(Code.INTERNAL, "call already completed"));
  }

  /** True once the stream has ended, however it ended. */
  get closed(): boolean {
    return this.ended !== undefined;
  }

  /** The error the stream ended with; undefined while it runs or after OK. */
  get endError(): TunnelError | undefined {
    return this.ended?.error;
  }

  /** Message bytes sent so far (chunk data handed to the transport). */
  get bytesSent(): number {
    return this.sender.bytesSent;
  }

  /** Message bytes received so far (chunk data accepted into the queue). */
  get bytesReceived(): number {
    return this.queue.bytesReceived;
  }

  /** This end gives up on the call and tells the peer (see the vocabulary above). */
  abstract cancel(reason?: TunnelError): void;

  /**
   * Sends one message. It is charged to the stream's memory while it is
   * being sent (a peer that does not read keeps it here); when a budget
   * refuses, the stream is cancelled with RESOURCE_EXHAUSTED. Most sends
   * never wait (the whole message goes to the transport at once): their
   * charge is released before this returns, without a promise of its own.
   */
  protected sendMessage(message: Uint8Array): Promise<void> {
    const bytes = message.length;
    const refused = this.memory.charge(bytes);
    if (refused !== undefined) {
      this.cancel(refused);
      return Promise.reject(refused);
    }
    const sent = this.sender.send(message);
    if (!this.sender.sending) {
      this.memory.release(bytes);
      return sent;
    }
    const release = () => this.memory.release(bytes);
    sent.then(release, release);
    return sent;
  }

  // ---- frames of this stream, from the engine's receive loop ----

  handleEnvelope(size: number, data: Uint8Array): void {
    this.receiveViolation(this.queue.envelope(size, data));
  }

  handleMore(data: Uint8Array): void {
    this.receiveViolation(this.queue.more(data));
  }

  handleWindowUpdate(credit: number): void {
    if (this.sender.window !== undefined && !this.sender.window.grant(credit)) {
      this.receiveViolation(new TunnelError(this.role.violationCode, "protocol error: window update overflows the send window"));
    }
  }

  /**
   * Every receive-path violation of a live stream (bad chunking, a window
   * overrun, an oversized message or metadata, an unknown frame type) ends
   * up here and cancels the stream: the call fails with the violation and
   * the peer is told, but the tunnel and its other streams go on, as in Go
   * — they did nothing wrong. Frames that belong to no live stream end the
   * tunnel instead (TunnelEngine.protocolError).
   */
  receiveViolation(error: TunnelError | undefined): void {
    if (error !== undefined) {
      this.cancel(error);
    }
  }

  /** Records how the stream ended and stops its deadline; false if it had already ended. */
  protected markEnded(end: End): boolean {
    if (this.ended !== undefined) {
      return false;
    }
    this.ended = end;
    clearTimeout(this.timer);
    return true;
  }

  /**
   * The last step of every end: a sender waiting for the window or the
   * transport wakes up and fails; what the stream held is released; the
   * engine forgets the stream.
   */
  protected released(): void {
    this.sender.stop();
    this.memory.end();
    this.owner.streamClosed(this.id);
  }
}
