import { Code } from "../code.js";
import type { TunnelEnd } from "../ended.js";
import { TunnelError } from "../errors.js";
import { deferred } from "../deferred.js";
import { callEndChannel, callStartChannel, tunnelCloseChannel, tunnelOpenChannel } from "../diagnostics/channels.js";
import type { CallInfo, TunnelRole } from "../diagnostics/events.js";
import type { ClientToServer, ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { FrameWriter, isUndecodable, type FrameConn, type FrameSink, type UndecodableFrame } from "./frame-conn.js";
import type { TunnelLimits } from "./limits.js";
import { frameBytes } from "./memory-costs.js";
import { type MemoryBudget, processMemory } from "./memory-budget.js";
import type { StreamOwner } from "./stream-core.js";
import { EngineTunnelInfo, type TunnelFigures, type TunnelIdentity } from "./tunnel-info.js";

/**
 * Data waits while the tunnel RPC holds this many bytes of frames: another
 * stream's frame then waits behind at most this much (plus one chunk).
 */
const MAX_BYTES_IN_TRANSPORT = 256 * 1024;

/**
 * The largest chunk a stream sends while other streams are open on its
 * tunnel: their frames then wait behind at most this much of it (on top of
 * the transport's bound). A stream alone on its tunnel sends whole messages.
 * Measured against 128 KiB: the same unary p99 beside a bulk stream, and
 * the bulk stream faster.
 */
const SHARED_CHUNK_BYTES = 256 * 1024;

/** What every tunnel frame has: a stream ID and a oneof body. */
interface Frame {
  readonly streamId: bigint;
  readonly frame: { readonly case: string | undefined };
}

/** What an engine needs of its streams for diagnostics: plain fields, read when the stream ends. */
export interface ObservedStream {
  readonly id: bigint;
  readonly method: string;
  /** performance.now() when the stream started. */
  readonly startedAt: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** The stream's error once it has ended; undefined for OK. */
  readonly endError: TunnelError | undefined;
  /** Created on first use, only when someone subscribes to call events. */
  callInfo: CallInfo | undefined;
}

/**
 * What both engines share: the streams of one tunnel by ID, the start of the
 * receive path, and the end of the tunnel — it happens once, with an
 * optional error, and can be awaited (`done`) or listened for synchronously
 * (`onEnd`). It also publishes the diagnostics events of the tunnel and its
 * calls, building payloads only when a channel has subscribers.
 *
 * Two kinds of broken frames, two reactions: a frame that cannot be read or
 * belongs to no stream this tunnel ever had ends the whole tunnel
 * (`protocolError`), because the peer's frame sequence can no longer be
 * trusted; a bad frame of a live stream only cancels that stream (see
 * StreamCore.receiveViolation).
 */
export abstract class TunnelEngine<In extends Frame, Out extends ClientToServer | ServerToClient, S extends ObservedStream>
  implements FrameSink<In>, TunnelFigures, StreamOwner
{
  protected readonly writer: FrameWriter<Out>;
  /** What this tunnel holds; charged up to its connection's and the process's budgets. */
  readonly memory: MemoryBudget;
  /** The calls in flight, by stream ID. */
  protected readonly streams = new Map<bigint, S>();
  /** The highest stream ID used so far; frames for higher IDs name streams that never existed. */
  protected lastStreamId = 0n;
  private endedWith: TunnelEnd | undefined;
  private listeners: Array<(error: TunnelError | undefined) => void> = [];
  /** `whenIdle` callers; made by the first (most tunnels have none). */
  private idleWaiters: Array<() => void> | undefined;
  private readonly ended = deferred<TunnelEnd>();
  /** Resolves (never rejects) with how the tunnel ended. */
  readonly done: Promise<TunnelEnd> = this.ended.promise;
  /** This tunnel, as diagnostics and status pages see it. */
  readonly info: EngineTunnelInfo;
  /** True once the owner announced the tunnel open: only then is its end announced too. */
  private announcedOpen = false;
  /** Set by `close()`: the tunnel ended because this side closed it. */
  protected closedHere = false;
  private endedBytesSent = 0;
  private endedBytesReceived = 0;
  /** TunnelLimits.maxChunkBytes. */
  private readonly chunkLimit: number;

  constructor(
    protected readonly conn: FrameConn<Out>,
    role: TunnelRole,
    identity: TunnelIdentity,
    budget: {
      limits: TunnelLimits;
      /** The tunnel's budget; by default one of `maxTunnelMemoryBytes` directly under the process's. */
      memory: MemoryBudget | undefined;
      /** Stop reading while this many bytes of control frames wait to be sent (Infinity: never). */
      pauseReadingAt: number;
    },
  ) {
    this.memory = budget.memory ?? tunnelMemory(budget.limits, processMemory);
    this.chunkLimit = budget.limits.maxChunkBytes;
    this.writer = new FrameWriter<Out>(conn, {
      memory: this.memory,
      frameBytes,
      pauseReadingAt: budget.pauseReadingAt,
      maxBytesInTransport: MAX_BYTES_IN_TRANSPORT,
    });
    this.info = new EngineTunnelInfo(this, role, identity);
  }

  /** The protocol revision in use (see TunnelInfo.protocolRevision). */
  abstract get revisionInUse(): 0 | 1 | undefined;

  /** True once the tunnel has ended. */
  get closed(): boolean {
    return this.endedWith !== undefined;
  }

  /** Why the tunnel ended; undefined while open or after a clean end. */
  get error(): TunnelError | undefined {
    return this.endedWith?.error;
  }

  /** Number of calls in flight. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /**
   * The chunk limit of this tunnel's streams (ChunkLimit): whole messages
   * (up to TunnelLimits.maxChunkBytes) while a stream is alone on the tunnel;
   * while others are open, at most SHARED_CHUNK_BYTES, so that a unary
   * call's frames do not wait behind a megabyte chunk of a bulk stream
   * (revision 0 has no window to bound a chunk).
   */
  get maxChunkBytes(): number {
    return this.streams.size > 1 ? Math.min(SHARED_CHUNK_BYTES, this.chunkLimit) : this.chunkLimit;
  }

  /** Message bytes sent on every stream of this tunnel so far. */
  get bytesSent(): number {
    let total = this.endedBytesSent;
    for (const stream of this.streams.values()) {
      total += stream.bytesSent;
    }
    return total;
  }

  /** Message bytes received on every stream of this tunnel so far. */
  get bytesReceived(): number {
    let total = this.endedBytesReceived;
    for (const stream of this.streams.values()) {
      total += stream.bytesReceived;
    }
    return total;
  }

  /** True once the tunnel was announced open (see `announceOpen`). */
  get announced(): boolean {
    return this.announcedOpen;
  }

  /**
   * Publishes `grpctunnel:tunnel:open`, once, when the owner considers the
   * tunnel open (negotiated, registered). A tunnel that ended before is
   * never announced, and so neither is its end.
   */
  announceOpen(): void {
    if (this.announcedOpen || this.closed) {
      return;
    }
    this.announcedOpen = true;
    // Stryker disable next-line ConditionalExpression: equivalent: publishing to a channel nobody subscribes to does nothing; the check only saves the payload
    if (tunnelOpenChannel.hasSubscribers) {
      tunnelOpenChannel.publish({ tunnel: this.info });
    }
  }

  /**
   * Calls `listener` synchronously when the tunnel ends (at once if it has),
   * so registries can drop a tunnel before any later call can pick it.
   */
  onEnd(listener: (error: TunnelError | undefined) => void): void {
    if (this.endedWith !== undefined) {
      listener(this.endedWith.error);
    } else {
      this.listeners.push(listener);
    }
  }

  /** Resolves once no call is running (at once if none is): graceful stops wait on it. */
  whenIdle(): Promise<void> {
    if (this.streams.size === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  receive(frame: In | UndecodableFrame): void {
    if (this.closed) {
      return;
    }
    if (isUndecodable(frame)) {
      this.protocolError(`undecodable frame: ${frame.undecodable}`);
      return;
    }
    this.receiveFrame(frame);
  }

  abstract transportEnded(error?: TunnelError): void;

  /** Ends the tunnel RPC cleanly from this side, cancelling running calls. */
  abstract close(): void;

  /** Ends the tunnel RPC with an error, failing running calls. */
  abstract abort(error: TunnelError): void;

  /** A decoded frame of this tunnel, after the checks every frame gets. */
  protected abstract receiveFrame(frame: In): void;

  /**
   * The live stream `frame` is for. Undefined when that stream already
   * ended (the frame raced with its end: ignored), and also when the ID was
   * never used — then the tunnel ends with a protocol error.
   */
  protected streamOf(frame: In): S | undefined {
    const id = frame.streamId;
    const stream = this.streams.get(id);
    if (stream !== undefined) {
      return stream; // a live stream's ID is one that was used: nothing to check
    }
    if (id <= 0n || id > this.lastStreamId) {
      this.protocolError(`received ${frame.frame.case ?? "unknown"} frame for stream ID ${id}: stream never created`);
    }
    return undefined;
  }

  /**
   * StreamOwner: forgets a stream that ended: keeps its byte counts, publishes
   * `grpctunnel:call:end`, and wakes `whenIdle` waiters when it was the last.
   */
  streamClosed(id: bigint): void {
    const stream = this.streams.get(id);
    if (stream === undefined) {
      return;
    }
    this.streams.delete(id);
    // Stryker disable next-line CallExpression: equivalent: its one override (the server's) forgets the stream in the idle timeout, equivalent itself (see TunnelServerEngine.forgotten)
    this.forgotten(stream);
    const { bytesSent, bytesReceived } = stream;
    this.endedBytesSent += bytesSent;
    this.endedBytesReceived += bytesReceived;
    if (callEndChannel.hasSubscribers) {
      const error = stream.endError;
      const durationMs = performance.now() - stream.startedAt;
      callEndChannel.publish({ call: this.callInfo(stream), code: error?.code ?? Code.OK, error, bytesSent, bytesReceived, durationMs });
    }
    const waiters = this.idleWaiters;
    if (this.streams.size === 0 && waiters !== undefined) {
      this.idleWaiters = undefined;
      for (const wake of waiters) {
        wake();
      }
    }
  }

  /** A stream was forgotten (see streamClosed): what an engine also tracks of it goes too. */
  protected forgotten(_stream: S): void {}

  /** Ends the tunnel: the peer broke the rules in a way no single stream can absorb. */
  protected protocolError(message: string): void {
    this.abort(new TunnelError(Code.INTERNAL, `protocol error: ${message}`));
  }

  /** Tracks a new stream and publishes `grpctunnel:call:start`. */
  protected streamStarted(stream: S): void {
    this.streams.set(stream.id, stream);
    if (callStartChannel.hasSubscribers) {
      callStartChannel.publish({ call: this.callInfo(stream) });
    }
  }

  /** Publishes `grpctunnel:tunnel:close` for an announced tunnel; engines call it last when they end. */
  protected announceEnd(): void {
    if (!this.announcedOpen || !tunnelCloseChannel.hasSubscribers) {
      return;
    }
    const error = this.error;
    const reason = error !== undefined ? "failed" : this.closedHere ? "closed" : "peer-closed";
    tunnelCloseChannel.publish({ tunnel: this.info, reason, error, durationMs: performance.now() - this.info.startedAt });
  }

  private callInfo(stream: S): CallInfo {
    return (stream.callInfo ??= { tunnel: this.info, streamId: stream.id, method: stream.method, role: this.info.role });
  }

  /** Records the end; false if the tunnel had already ended. */
  protected markEnded(error: TunnelError | undefined): boolean {
    if (this.endedWith !== undefined) {
      return false;
    }
    this.endedWith = { error };
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) {
      listener(error);
    }
    this.ended.resolve(this.endedWith);
    return true;
  }
}

/** A tunnel's memory budget, under `parent` (its connection's, or the process's). */
export function tunnelMemory(limits: TunnelLimits, parent: MemoryBudget): MemoryBudget {
  return parent.child("maxTunnelMemoryBytes", limits.maxTunnelMemoryBytes);
}
