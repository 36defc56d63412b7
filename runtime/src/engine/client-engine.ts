import type { Metadata } from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import { ProtocolRevision, type ClientToServer, type ServerToClient } from "../gen/grpctunnel/v1/tunnel_pb.js";
import { INITIAL_WINDOW_BYTES, SETTINGS_STREAM_ID } from "../protocol/constants.js";
import { clientFrames } from "../protocol/frames.js";
import { metadataToProto } from "../protocol/metadata-codec.js";
import { chooseRevision, offeredRevisions, supportedRevisions } from "../protocol/negotiation.js";
import { TIMEOUT_HEADER, encodeTimeout } from "../protocol/timeout.js";
import { FrameWriter, isUndecodable, type FrameConn, type FrameSink, type UndecodableFrame } from "./frame-conn.js";
import type { TunnelLimits } from "./limits.js";
import { ClientStream } from "./client-stream.js";
import { TunnelLifecycle } from "./lifecycle.js";

export interface ClientEngineOptions {
  /** False: use revision 0 even when the server offers revision 1. */
  flowControl: boolean;
  /** The server advertised negotiation, so its first frame must be Settings. */
  expectSettings: boolean;
  limits: TunnelLimits;
}

export interface OpenStreamOptions {
  /** Absolute deadline, ms since the epoch. */
  deadline?: number;
  signal?: AbortSignal;
  onHeaders?: (headers: Metadata) => void;
}

const MAX_STREAM_ID = 0x7fff_ffff_ffff_ffffn;

/**
 * The tunnel-client engine: the side that starts tunneled calls. It is the
 * network client in a forward tunnel and the network server in a reverse
 * tunnel; only the FrameConn underneath differs.
 */
export class TunnelClientEngine extends TunnelLifecycle implements FrameSink<ServerToClient> {
  private readonly writer: FrameWriter<ClientToServer>;
  private readonly streams = new Map<bigint, ClientStream>();
  private nextId = 1n;
  private negotiated: boolean;
  private revision = ProtocolRevision.REVISION_ZERO;
  private sendWindowSize = INITIAL_WINDOW_BYTES;
  private settingsTimer: NodeJS.Timeout | undefined;
  private resolveReady!: () => void;
  private rejectReady!: (error: TunnelError) => void;
  /** Resolves when the tunnel can carry calls; rejects if it ended first. */
  readonly ready: Promise<void>;

  constructor(
    private readonly conn: FrameConn<ClientToServer>,
    private readonly options: ClientEngineOptions,
  ) {
    super();
    this.writer = new FrameWriter(conn);
    this.ready = new Promise<void>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // observed through `done`/`error` as well
    this.negotiated = !options.expectSettings;
    if (this.negotiated) {
      this.resolveReady();
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

  /** Number of calls in flight. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /**
   * Starts a tunneled call to `method` ("/pkg.Service/Method"). Throws a
   * TunnelError when the tunnel is not usable or the metadata cannot be sent.
   */
  openStream(method: string, metadata: Metadata, options: OpenStreamOptions = {}): ClientStream {
    if (this.closed) {
      throw new TunnelError(Code.UNAVAILABLE, `tunnel is closed${this.error ? `: ${this.error.rawMessage}` : ""}`);
    }
    if (!this.negotiated) {
      throw new TunnelError(Code.UNAVAILABLE, "tunnel is still negotiating its protocol revision");
    }
    if (options.signal?.aborted) {
      throw TunnelError.from(options.signal.reason, Code.CANCELLED);
    }
    const headers = metadata.clone();
    if (options.deadline !== undefined) {
      headers.set(TIMEOUT_HEADER, encodeTimeout(options.deadline - Date.now()));
    }
    const requestHeaders = metadataToProto(headers);
    if (this.nextId > MAX_STREAM_ID) {
      throw new TunnelError(Code.RESOURCE_EXHAUSTED, "all stream IDs of this tunnel are used; open a new tunnel");
    }
    const id = this.nextId++;
    const flowControl = this.revision === ProtocolRevision.REVISION_ONE;
    const stream = new ClientStream({
      id,
      method,
      writer: this.writer,
      sendWindowSize: flowControl ? this.sendWindowSize : undefined,
      limits: this.options.limits,
      deadline: options.deadline,
      signal: options.signal,
      onHeaders: options.onHeaders,
      onFinish: (s) => this.streams.delete(s.id),
    });
    this.streams.set(id, stream);
    this.writer.write(clientFrames.newStream(id, method, requestHeaders, this.options.limits.receiveWindowBytes, this.revision));
    return stream;
  }

  receive(frame: ServerToClient | UndecodableFrame): void {
    if (this.closed) {
      return;
    }
    if (isUndecodable(frame)) {
      this.protocolError(`undecodable frame: ${frame.undecodable}`);
      return;
    }
    if (!this.negotiated) {
      this.acceptSettings(frame);
      return;
    }
    const stream = this.streams.get(frame.streamId);
    if (stream === undefined) {
      if (frame.streamId <= 0n || frame.streamId >= this.nextId) {
        this.protocolError(`received ${frame.frame.case ?? "unknown"} frame for stream ID ${frame.streamId}: stream never created`);
      }
      return; // a stream that already ended: the frame raced with its end
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
        stream.cancel(new TunnelError(Code.INTERNAL, "protocol error: unexpected settings frame"));
        break;
      default:
        stream.cancel(new TunnelError(Code.INTERNAL, "protocol error: unrecognized frame type"));
    }
  }

  transportEnded(error?: TunnelError): void {
    const reason = error ?? new TunnelError(Code.UNAVAILABLE, "tunnel closed by peer");
    this.end(error, new TunnelError(Code.UNAVAILABLE, `tunnel closed: ${reason.rawMessage}`));
  }

  /**
   * Closes the tunnel from this side: cancels every call and ends the tunnel
   * RPC cleanly.
   */
  close(): void {
    if (this.closed) {
      return;
    }
    for (const stream of [...this.streams.values()]) {
      stream.cancel(new TunnelError(Code.CANCELLED, "tunnel closed"));
    }
    this.end(undefined, new TunnelError(Code.CANCELLED, "tunnel closed"));
    this.conn.end();
  }

  /** Ends the tunnel RPC with an error, failing every call with UNAVAILABLE. */
  abort(error: TunnelError): void {
    if (this.closed) {
      return;
    }
    this.conn.abort(error);
    this.end(error, new TunnelError(Code.UNAVAILABLE, `tunnel failed: ${error.rawMessage}`));
  }

  /** Ends the tunnel with a protocol error: the peer broke the rules. */
  private protocolError(message: string): void {
    this.abort(new TunnelError(Code.INTERNAL, `protocol error: ${message}`));
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
    this.resolveReady();
  }

  private end(error: TunnelError | undefined, streamError: TunnelError): void {
    if (!this.markEnded(error)) {
      return;
    }
    this.writer.close();
    this.rejectReady(error ?? streamError);
    for (const stream of [...this.streams.values()]) {
      stream.fail(streamError);
    }
  }
}
