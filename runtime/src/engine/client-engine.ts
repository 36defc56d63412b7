import { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { deferred } from "../deferred.js";
import type { CallEnd } from "../ended.js";
import { TunnelError } from "../errors.js";
import { ProtocolRevision, type ClientToServer, type ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { INITIAL_WINDOW_BYTES, SETTINGS_STREAM_ID } from "../protocol/constants.js";
import { clientFrames } from "../protocol/frames.js";
import { metadataToProto } from "../protocol/metadata-codec.js";
import { chooseRevision, offeredRevisions, supportedRevisions } from "../protocol/negotiation.js";
import { TIMEOUT_HEADER, encodeTimeout } from "../protocol/timeout.js";
import { ClientStream } from "./client-stream.js";
import type { FrameConn } from "./frame-conn.js";
import type { TunnelLimits } from "./limits.js";
import { StreamMemory, type MemoryBudget } from "./memory-budget.js";
import { STREAM_BYTES } from "./memory-costs.js";
import { TunnelEngine } from "./tunnel-engine.js";
import { type TunnelIdentity, unnamedTunnel } from "./tunnel-info.js";

export interface ClientEngineOptions {
  /** False: use revision 0 even when the server offers revision 1. */
  flowControl: boolean;
  /** The server advertised negotiation, so its first frame must be Settings. */
  expectSettings: boolean;
  limits: TunnelLimits;
  /** The tunnel's memory budget (under its connection's); by default one directly under the process's. */
  memory?: MemoryBudget;
  /** The tunnel RPC this engine runs on, for diagnostics. */
  tunnel?: TunnelIdentity;
}

export interface OpenStreamOptions {
  /** Absolute deadline, ms since the epoch. */
  deadline?: number;
  signal?: AbortSignal;
  onHeader?: (headers: Metadata) => void;
  /** Told synchronously how the call ended (ClientStreamInit.onEnd). */
  onEnd?: (end: CallEnd) => void;
}

const MAX_STREAM_ID = 0x7fff_ffff_ffff_ffffn;

/**
 * The tunnel-client engine: the side that starts tunneled calls. It is the
 * network client in a forward tunnel and the network server in a reverse
 * tunnel; only the FrameConn underneath differs.
 */
export class TunnelClientEngine extends TunnelEngine<ServerToClient, ClientToServer, ClientStream> {
  private negotiated: boolean;
  private revision = ProtocolRevision.REVISION_ZERO;
  private sendWindowSize = INITIAL_WINDOW_BYTES;
  private settingsTimer: NodeJS.Timeout | undefined;
  private readonly negotiation = deferred();
  /** Set once the peer ended the tunnel RPC, before the transport's verdict (see `transportEnding`). */
  private peerEnding: TunnelError | undefined;
  private endingListeners: Array<(reason: TunnelError) => void> = [];
  /** Resolves when the tunnel can carry calls; rejects if it ended first. */
  readonly ready: Promise<void> = this.negotiation.promise;

  constructor(
    conn: FrameConn<ClientToServer>,
    private readonly options: ClientEngineOptions,
  ) {
    // The tunnel client never stops reading: its control frames are its own
    // calls' (new streams, half-closes, cancels, window updates for what it
    // read), bounded by those calls; see TunnelServerEngine.
    super(conn, "client", options.tunnel ?? unnamedTunnel(), {
      limits: options.limits,
      memory: options.memory,
      pauseReadingAt: Number.POSITIVE_INFINITY,
    });
    this.ready.catch(() => {}); // observed through `done` as well
    this.negotiated = !options.expectSettings;
    if (this.negotiated) {
      this.negotiation.resolve();
    } else {
      const timeout = options.limits.settingsTimeoutMs;
      this.settingsTimer = setTimeout(
        () => this.abort(new TunnelError(Code.DEADLINE_EXCEEDED, `no Settings frame within ${timeout} ms of opening the tunnel`)),
        timeout,
      );
      this.onEnd(() => clearTimeout(this.settingsTimer));
    }
  }

  /** The negotiated protocol revision (0 or 1). */
  get protocolRevision(): ProtocolRevision {
    return this.revision;
  }

  get revisionInUse(): 0 | 1 | undefined {
    return this.negotiated ? (this.revision === ProtocolRevision.REVISION_ONE ? 1 : 0) : undefined;
  }

  /**
   * Starts a tunneled call to `method` ("/pkg.Service/Method"). Throws a
   * TunnelError when the tunnel is not usable or the metadata cannot be sent.
   */
  openStream(method: string, metadata: Metadata | undefined, options: OpenStreamOptions = {}): ClientStream {
    if (this.closed) {
      throw new TunnelError(Code.UNAVAILABLE, `tunnel is closed${this.error ? `: ${this.error.rawMessage}` : ""}`);
    }
    if (this.peerEnding !== undefined) {
      throw this.peerEnding;
    }
    if (!this.negotiated) {
      throw new TunnelError(Code.UNAVAILABLE, "tunnel is still negotiating its protocol revision");
    }
    if (options.signal?.aborted) {
      throw TunnelError.from(options.signal.reason, Code.CANCELLED);
    }
    // `metadata` is only read, unless the timeout goes in: then a copy (none: no metadata).
    let headers = metadata;
    if (options.deadline !== undefined) {
      headers = metadata?.clone() ?? new Metadata();
      headers.set(TIMEOUT_HEADER, encodeTimeout(options.deadline - Date.now()));
    }
    const requestHeaders = metadataToProto(headers);
    // Stryker disable all: unreachable in a test (and in a tunnel's life): it takes 2^63 - 1 calls
    if (this.lastStreamId >= MAX_STREAM_ID) {
      throw new TunnelError(Code.RESOURCE_EXHAUSTED, "all stream IDs of this tunnel are used; open a new tunnel");
    }
    // Stryker restore all
    const memory = new StreamMemory(this.memory);
    const refused = memory.charge(STREAM_BYTES);
    if (refused !== undefined) {
      throw refused;
    }
    const id = ++this.lastStreamId;
    const flowControl = this.revision === ProtocolRevision.REVISION_ONE;
    const stream = new ClientStream({
      id,
      method,
      writer: this.writer,
      sendWindowSize: flowControl ? this.sendWindowSize : undefined,
      limits: this.options.limits,
      chunks: this,
      deadline: options.deadline,
      memory,
      signal: options.signal,
      onHeader: options.onHeader,
      onEnd: options.onEnd,
      owner: this,
    });
    this.streamStarted(stream);
    this.writer.write(clientFrames.newStream(id, method, requestHeaders, this.options.limits.receiveWindowBytes, this.revision));
    return stream;
  }

  protected receiveFrame(frame: ServerToClient): void {
    if (!this.negotiated) {
      this.acceptSettings(frame);
      return;
    }
    const stream = this.streamOf(frame);
    if (stream === undefined) {
      return;
    }
    switch (frame.frame.case) {
      case "responseHeaders":
        stream.handleHeaders(frame.frame.value);
        break;
      case "responseMessage":
        stream.handleEnvelope(frame.frame.value.size, frame.frame.value.data);
        break;
      case "moreResponseData":
        stream.handleMore(frame.frame.value);
        break;
      case "closeStream":
        stream.handleClose(frame.frame.value);
        break;
      case "windowUpdate":
        stream.handleWindowUpdate(frame.frame.value);
        break;
      case "settings":
        stream.receiveViolation(new TunnelError(Code.INTERNAL, "protocol error: unexpected settings frame"));
        break;
      default:
        stream.receiveViolation(new TunnelError(Code.INTERNAL, "protocol error: unrecognized frame type"));
    }
  }

  /**
   * The peer ended the tunnel RPC; its end (clean or broken) is confirmed
   * shortly. New streams are refused with UNAVAILABLE from now on, so that
   * channels route calls to another tunnel; running streams are unaffected.
   */
  transportEnding(): void {
    if (this.closed || this.peerEnding !== undefined) {
      return;
    }
    const reason = new TunnelError(Code.UNAVAILABLE, "tunnel is ending: its peer closed the tunnel RPC");
    this.peerEnding = reason;
    const listeners = this.endingListeners;
    this.endingListeners = [];
    for (const listener of listeners) {
      listener(reason);
    }
  }

  /**
   * Calls `listener` synchronously with the refusal of new streams when the
   * peer ends the tunnel RPC (see `transportEnding`); never once the tunnel ended.
   */
  onPeerEnding(listener: (reason: TunnelError) => void): void {
    if (this.peerEnding !== undefined) {
      listener(this.peerEnding);
      return;
    }
    // Stryker disable next-line ConditionalExpression: equivalent: a listener kept after the end is never called (transportEnding does nothing once ended); not keeping it only frees it
    if (!this.closed) {
      this.endingListeners.push(listener);
    }
  }

  transportEnded(error?: TunnelError): void {
    const reason = error ?? new TunnelError(Code.UNAVAILABLE, "tunnel closed by peer");
    this.end(error, new TunnelError(Code.UNAVAILABLE, `tunnel closed: ${reason.rawMessage}`));
  }

  close(): void {
    if (this.closed) {
      return;
    }
    for (const stream of [...this.streams.values()]) {
      stream.cancel(new TunnelError(Code.CANCELLED, "tunnel closed"));
    }
    this.closedHere = true;
    this.end(undefined, new TunnelError(Code.CANCELLED, "tunnel closed"));
    this.conn.end();
  }

  abort(error: TunnelError): void {
    if (this.closed) {
      return;
    }
    this.conn.abort(error);
    this.end(error, new TunnelError(Code.UNAVAILABLE, `tunnel failed: ${error.rawMessage}`));
  }

  private acceptSettings(frame: ServerToClient): void {
    if (frame.streamId !== SETTINGS_STREAM_ID || frame.frame.case !== "settings") {
      this.protocolError(
        frame.frame.case === "settings"
          ? `settings frame had bad stream ID (${frame.streamId})`
          : `first frame was not settings (instead was ${frame.frame.case ?? "unknown"})`,
      );
      return;
    }
    const revision = chooseRevision(frame.frame.value, this.options.flowControl);
    if (revision === undefined) {
      const ours = supportedRevisions(this.options.flowControl);
      this.protocolError(
        `server supports revisions [${offeredRevisions(frame.frame.value).join(", ")}], client supports [${ours.join(", ")}]`,
      );
      return;
    }
    this.revision = revision;
    this.sendWindowSize = frame.frame.value.initialWindowSize;
    this.negotiated = true;
    clearTimeout(this.settingsTimer);
    this.negotiation.resolve();
  }

  private end(error: TunnelError | undefined, streamError: TunnelError): void {
    if (!this.markEnded(error)) {
      return;
    }
    // Stryker disable next-line CallExpression: equivalent: every stream has ended here, so its queued frames are dropped at their turn and its waiting sender was woken (MessageSender.stop); closing frees them now
    this.writer.close();
    this.endingListeners = [];
    this.negotiation.reject(error ?? streamError);
    for (const stream of [...this.streams.values()]) {
      stream.fail(streamError);
    }
    this.announceEnd();
  }
}
