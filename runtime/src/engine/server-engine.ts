import type { Metadata } from "@grpc/grpc-js";
import type { AuthContext } from "./auth-context.js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { ProtocolRevision, type ClientToServer, type NewStream, type ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { serverFrames } from "../protocol/frames.js";
import { type DeferredNewStream, requestHeadersOf } from "../protocol/control-frame-decode.js";
import { metadataFromProto, metadataToProto } from "../protocol/metadata-codec.js";
import { settingsFrame } from "../protocol/negotiation.js";
import { statusToProto } from "../protocol/status-codec.js";
import { TIMEOUT_HEADER, parseTimeout } from "../protocol/timeout.js";
import { truncated } from "../protocol/truncated.js";
import type { FrameConn } from "./frame-conn.js";
import { IdleStreams } from "./idle-streams.js";
import type { TunnelLimits } from "./limits.js";
import { StreamMemory, type MemoryBudget } from "./memory-budget.js";
import { STREAM_BYTES, metadataBytes } from "./memory-costs.js";
import { ServerStream } from "./server-stream.js";
import { TunnelEngine } from "./tunnel-engine.js";

/** Serves one tunneled call in bytes; the returned promise settles the call. */
export type StreamHandler = (stream: ServerStream) => Promise<void>;

export interface ServerEngineOptions {
  /** False: offer and accept revision 0 only. */
  flowControl: boolean;
  /** The tunnel client advertised negotiation: send Settings first. */
  peerAdvertised: boolean;
  tunnelMetadata: Metadata;
  /** The network peer at the other end of the tunnel RPC, as grpc-js reports it. */
  peer: string;
  /** The tunnel RPC's transport security, when this side is the network server. */
  authContext?: AuthContext;
  limits: TunnelLimits;
  /** The tunnel's memory budget (under its connection's); by default one directly under the process's. */
  memory?: MemoryBudget;
  /** Forward (the default) or reverse, for diagnostics. */
  direction?: "forward" | "reverse";
  /** Finds the handler for "pkg.Service/Method". */
  lookup(method: string): StreamHandler | undefined;
  /** True while the owner refuses new calls (graceful shutdown). */
  isShuttingDown(): boolean;
}

interface AcceptedStream {
  /** "pkg.Service/Method", without the leading slash. */
  name: string;
  handler: StreamHandler;
  metadata: Metadata;
  deadline: number | undefined;
  /** The stream's memory, charged with the stream and its metadata. */
  memory: StreamMemory;
}

/**
 * The tunnel-server engine: the side that handles tunneled calls. It is the
 * network server in a forward tunnel and the network client in a reverse
 * tunnel; only the FrameConn underneath differs.
 */
export class TunnelServerEngine extends TunnelEngine<ClientToServer, ServerToClient, ServerStream> {
  private readonly idleStreams: IdleStreams;
  private latestRevision: 0 | 1 | undefined;

  constructor(
    conn: FrameConn<ServerToClient>,
    private readonly options: ServerEngineOptions,
  ) {
    // The tunnel server's control frames answer the peer (a close per
    // refused or cancelled stream, headers and a close per call), so a peer
    // that never reads could make it queue them without end: it stops
    // reading past maxPendingControlBytes. This cannot deadlock two
    // well-behaved ends: the tunnel client never stops reading (its control
    // frames are its own calls', bounded by them), so whatever the tunnel
    // server waits to send drains, and then it reads again. Data never stops
    // the reading: windows and waiting senders already bound it, and
    // stopping for it would stall heavy two-way streams.
    super(
      conn,
      "server",
      { direction: options.direction ?? "forward", peer: options.peer, metadata: options.tunnelMetadata },
      { limits: options.limits, memory: options.memory, pauseReadingAt: options.limits.maxPendingControlBytes },
    );
    this.idleStreams = new IdleStreams(options.limits.idleStreamTimeoutMs);
  }

  /** The revision of the latest call the client started. */
  get revisionInUse(): 0 | 1 | undefined {
    return this.latestRevision;
  }

  /** Sends Settings when the peer advertised negotiation. Call once, first. */
  start(): void {
    if (this.options.peerAdvertised) {
      this.writer.write(settingsFrame(this.options.flowControl, this.options.limits.receiveWindowBytes));
    }
  }

  protected receiveFrame(frame: ClientToServer): void {
    if (frame.frame.case === "newStream") {
      this.newStream(frame.streamId, frame.frame.value);
      return;
    }
    const stream = this.streamOf(frame);
    if (stream === undefined) {
      return;
    }
    switch (frame.frame.case) {
      case "requestMessage":
        stream.handleEnvelope(frame.frame.value.size, frame.frame.value.data);
        break;
      case "moreRequestData":
        stream.handleMore(frame.frame.value);
        break;
      case "halfClose":
        stream.handleHalfClose();
        break;
      case "cancel":
        stream.handleCancel();
        break;
      case "windowUpdate":
        stream.handleWindowUpdate(frame.frame.value);
        break;
      default:
        stream.receiveViolation(new TunnelError(Code.INVALID_ARGUMENT, "protocol error: unrecognized frame type"));
    }
  }

  transportEnded(error?: TunnelError): void {
    this.end(error);
  }

  close(): void {
    this.closedHere = true;
    if (this.end(undefined)) {
      this.conn.end();
    }
  }

  abort(error: TunnelError): void {
    if (this.end(error)) {
      this.conn.abort(error);
    }
  }

  private newStream(id: bigint, init: NewStream): void {
    if (this.streams.has(id)) {
      this.protocolError(`cannot create stream ID ${id}: already exists`);
      return;
    }
    if (id <= this.lastStreamId) {
      this.protocolError(`cannot create stream ID ${id}: that ID has already been used`);
      return;
    }
    this.lastStreamId = id;
    const checked = this.checkNewStream(init);
    if (checked instanceof TunnelError) {
      // Like Go: a rejected stream gets only a CloseStream, no headers.
      this.writer.write(serverFrames.close(id, metadataToProto(undefined), statusToProto(checked)));
      return;
    }
    const { name, handler, metadata, deadline, memory } = checked;
    const revisionOne = init.protocolRevision === ProtocolRevision.REVISION_ONE;
    this.latestRevision = revisionOne ? 1 : 0;
    const stream = new ServerStream({
      id,
      method: `/${name}`,
      metadata,
      tunnelMetadata: this.options.tunnelMetadata,
      peer: this.options.peer,
      authContext: this.options.authContext,
      writer: this.writer,
      sendWindowSize: revisionOne ? init.initialWindowSize : undefined,
      limits: this.options.limits,
      chunks: this,
      deadline,
      memory,
      protocolRevision: revisionOne ? 1 : 0,
      owner: this,
    });
    this.streamStarted(stream);
    this.idleStreams.add(stream);
    let running: Promise<void>;
    try {
      running = Promise.resolve(handler(stream));
    } catch (e) {
      running = Promise.reject(e); // a handler that throws at once must not break the receive loop
    }
    // TunnelError.from never throws, whatever the handler rejected with, and
    // close never throws: the call ends exactly once and no rejection escapes.
    running.then(
      () => stream.close(undefined),
      (e: unknown) => stream.close(TunnelError.from(e)),
    );
  }

  /** Validates a NewStream: what the call needs, or the status to reject it with. */
  private checkNewStream(init: NewStream): AcceptedStream | TunnelError {
    if (this.options.isShuttingDown()) {
      return new TunnelError(Code.UNAVAILABLE, "server is shutting down");
    }
    const { limits } = this.options;
    if (this.streams.size >= limits.maxConcurrentStreams) {
      return new TunnelError(Code.RESOURCE_EXHAUSTED, `too many concurrent streams on this tunnel (limit ${limits.maxConcurrentStreams})`);
    }
    const revision = init.protocolRevision;
    const supported =
      revision === ProtocolRevision.REVISION_ZERO || (revision === ProtocolRevision.REVISION_ONE && this.options.flowControl);
    if (!supported) {
      return new TunnelError(Code.UNAVAILABLE, `server does not support protocol revision ${revision}`);
    }
    // What the peer sent is echoed in refusals only in part: a refusal must
    // not cost more than the frame that caused it.
    const name = init.methodName.startsWith("/") ? init.methodName.slice(1) : init.methodName;
    const slash = name.indexOf("/");
    if (slash <= 0 || slash === name.length - 1) {
      return new TunnelError(Code.INVALID_ARGUMENT, `${JSON.stringify(truncated(init.methodName))} is not a well-formed method name`);
    }
    const handler = this.options.lookup(name);
    if (handler === undefined) {
      return new TunnelError(Code.UNIMPLEMENTED, `${truncated(name)} not implemented`);
    }
    // The stream and its decoded metadata, held for the life of the call:
    // at least its encoded bytes, charged before they are decoded.
    const memory = new StreamMemory(this.memory);
    const encoded = (init as DeferredNewStream).headersView?.length ?? 0;
    const full = memory.charge(STREAM_BYTES + encoded);
    if (full !== undefined) {
      return full;
    }
    let headers: DeferredNewStream["requestHeaders"];
    try {
      headers = requestHeadersOf(init);
    } catch (e) {
      memory.end();
      const error = TunnelError.from(e, Code.INTERNAL);
      this.protocolError(`undecodable frame: ${error.rawMessage}`); // as if grpc-js had decoded it
      return error;
    }
    let metadata: Metadata;
    try {
      metadata = metadataFromProto(headers, Code.INVALID_ARGUMENT, limits.maxMetadataBytes);
    } catch (e) {
      memory.end();
      const error = TunnelError.from(e, Code.INVALID_ARGUMENT);
      return new TunnelError(error.code, truncated(error.rawMessage, 200));
    }
    let deadline: number | undefined;
    const timeout = metadata.get(TIMEOUT_HEADER)[0];
    if (timeout !== undefined) {
      metadata.remove(TIMEOUT_HEADER);
      const millis = parseTimeout(String(timeout));
      if (millis === undefined) {
        memory.end();
        return new TunnelError(Code.INVALID_ARGUMENT, `malformed ${TIMEOUT_HEADER} header ${JSON.stringify(truncated(String(timeout)))}`);
      }
      deadline = Date.now() + millis;
    }
    const refused = memory.charge(metadataBytes(headers) - encoded); // decoded metadata takes more than its encoding
    if (refused !== undefined) {
      memory.end();
      return refused;
    }
    return { name, handler, metadata, deadline, memory };
  }

  /** A stream that ended is forgotten by the idle timeout too. */
  // Stryker disable next-line BlockStatement: equivalent, as the call below
  protected override forgotten(stream: ServerStream): void {
    // Stryker disable next-line CallExpression: equivalent: an ended stream left to the idle timeout expires into a cancel that does nothing (it has ended); forgetting it only frees it sooner
    this.idleStreams.delete(stream);
  }

  /** Records the end and cancels running calls; false if already ended. */
  private end(error: TunnelError | undefined): boolean {
    if (!this.markEnded(error)) {
      return false;
    }
    // Stryker disable next-line CallExpression: equivalent: every stream has ended here, so its queued frames are dropped at their turn and its waiting sender was woken (MessageSender.stop); closing frees them now
    this.writer.close();
    this.idleStreams.stop();
    const reason = new TunnelError(
      error === undefined ? Code.CANCELLED : Code.UNAVAILABLE,
      error === undefined ? "tunnel closed" : `tunnel failed: ${error.rawMessage}`,
    );
    for (const stream of [...this.streams.values()]) {
      stream.fail(reason);
    }
    this.announceEnd();
    return true;
  }
}
