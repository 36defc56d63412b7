import { type Metadata, status as Status, type Deadline, type ServerInterceptingCallInterface } from "@grpc/grpc-js";
import { deferred } from "../../deferred.js";
import { TunnelError } from "../../errors.js";
import { isMetadata } from "../../metadata.js";
import type { ServerStream } from "../../engine/server-stream.js";
import { tunnelErrorFromGrpcStatus, type StatusLike } from "./status-details.js";

type InterceptingServerListener = Parameters<ServerInterceptingCallInterface["start"]>[0];
type AuthContext = ReturnType<ServerInterceptingCallInterface["getAuthContext"]>;
type ConnectionInfo = ReturnType<ServerInterceptingCallInterface["getConnectionInfo"]>;
type MetricsRecorder = ReturnType<ServerInterceptingCallInterface["getMetricsRecorder"]>;

/** How a grpc-js handler (de)serializes its messages. */
export interface MessageCodec {
  serialize: (value: unknown) => Buffer;
  deserialize: (bytes: Buffer) => unknown;
}

/** Like grpc-js: handler error messages reach the client only when this is set. */
export function sendErrorDetails(): boolean {
  return (process.env.GRPC_NODE_DEBUG_SEND_ERROR_DETAILS ?? "false") === "true";
}

/**
 * A tunneled call as grpc-js's server call stack sees it: the bottom
 * `ServerInterceptingCallInterface` (what grpc-js builds on an HTTP/2
 * stream), here built on a ServerStream. grpc-js server interceptors wrap
 * it; the grpc-js style call objects sit on top.
 *
 * `result` settles the tunneled call: it resolves when the handler sent an
 * OK status (its trailers are then sent) and rejects with the TunnelError of
 * an error status. After the status, and when the call is cancelled or its
 * deadline passes, the listener's `onCancel` runs once, as in grpc-js.
 */
export class TunnelServerCall implements ServerInterceptingCallInterface {
  private readonly settled = deferred();
  readonly result: Promise<void> = this.settled.promise;
  private listener: InterceptingServerListener | undefined;
  private metadataSent = false;
  private statusSent = false;
  private readPending = false;
  private cancelNotified = false;
  private sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly stream: ServerStream,
    private readonly codec: MessageCodec,
  ) {
    const { signal } = stream;
    if (signal.aborted) {
      this.notifyOnCancel();
    } else {
      signal.addEventListener("abort", () => this.notifyOnCancel(), { once: true });
    }
  }

  /** The request metadata of the tunnel RPC carrying this call. */
  get tunnelMetadata(): Metadata {
    return this.stream.tunnelMetadata;
  }

  private get cancelled(): boolean {
    return this.statusSent || this.stream.closed;
  }

  start(listener: InterceptingServerListener): void {
    if (this.cancelled) {
      return;
    }
    this.listener = listener;
    listener.onReceiveMetadata(this.stream.metadata);
  }

  sendMetadata(metadata: Metadata): void {
    if (this.cancelled || this.metadataSent) {
      return;
    }
    this.metadataSent = true;
    this.stream.responseHeaders.merge(metadata);
    try {
      this.stream.sendHeaders();
    } catch (e) {
      this.sendError(e);
    }
  }

  sendMessage(message: unknown, callback: () => void): void {
    if (this.cancelled) {
      return;
    }
    let bytes: Buffer;
    try {
      bytes = this.codec.serialize(message);
    } catch (e) {
      const details = sendErrorDetails() ? `Error serializing response: ${TunnelError.from(e).rawMessage}` : "Error serializing response";
      this.sendStatus({ code: Status.INTERNAL, details });
      return;
    }
    this.metadataSent = true; // the stream sends its headers with the first message
    // One message at a time, in order (grpc-js queues writes the same way).
    const sent = this.sending.then(() => this.stream.send(bytes));
    this.sending = sent.catch(() => {});
    sent.then(callback, (e: unknown) => this.sendError(e));
  }

  sendStatus(status: StatusLike): void {
    if (this.cancelled) {
      return;
    }
    this.statusSent = true;
    let error: TunnelError | undefined;
    try {
      if ((status.code ?? Status.UNKNOWN) === Status.OK) {
        if (isMetadata(status.metadata)) {
          this.stream.responseTrailers.merge(status.metadata);
        }
      } else {
        error = tunnelErrorFromGrpcStatus(status);
      }
    } catch (e) {
      error = TunnelError.from(e, Status.INTERNAL); // a status that cannot be read still ends the call
    }
    if (error === undefined) {
      // Ending the call waits for messages still being sent.
      void this.sending.then(() => this.settled.resolve());
    } else {
      this.settled.reject(error);
    }
    this.notifyOnCancel();
  }

  startRead(): void {
    if (this.cancelled || this.readPending) {
      return;
    }
    this.readPending = true;
    this.stream.read().then(
      (bytes) => {
        this.readPending = false;
        if (this.cancelled) {
          return;
        }
        if (bytes === undefined) {
          this.listener?.onReceiveHalfClose();
          return;
        }
        let message: unknown;
        try {
          message = this.codec.deserialize(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        } catch (e) {
          const details = sendErrorDetails()
            ? `Error deserializing request: ${TunnelError.from(e).rawMessage}`
            : "Error deserializing request";
          this.sendStatus({ code: Status.INTERNAL, details });
          return;
        }
        this.listener?.onReceiveMessage(message);
      },
      () => {
        this.readPending = false; // the call failed: its signal reports it
      },
    );
  }

  getPeer(): string {
    return this.stream.peer;
  }

  getDeadline(): Deadline {
    return this.stream.deadline?.getTime() ?? Infinity;
  }

  getHost(): string {
    return "";
  }

  getAuthContext(): AuthContext {
    return this.stream.authContext ?? {};
  }

  getConnectionInfo(): ConnectionInfo {
    return {};
  }

  getMetricsRecorder(): MetricsRecorder {
    return noMetrics;
  }

  /** A failure while answering (e.g. response headers that cannot be sent). */
  private sendError(e: unknown): void {
    if (this.cancelled) {
      return;
    }
    const error = TunnelError.from(e, Status.INTERNAL);
    this.sendStatus({ code: error.code, details: error.rawMessage, metadata: error.metadata });
  }

  private notifyOnCancel(): void {
    if (this.cancelNotified) {
      return;
    }
    this.cancelNotified = true;
    // A call that ends without a status from the handler (cancelled, deadline,
    // tunnel gone) is over: settle `result`, the stream ignores it.
    this.settled.resolve();
    process.nextTick(() => this.listener?.onCancel());
  }
}

/**
 * ORCA per-request metrics are not carried over tunnels: recording them
 * does nothing.
 */
const noMetrics = new Proxy(
  {},
  {
    get: (_target, name) => (name === "serialize" ? () => Buffer.alloc(0) : () => {}),
  },
) as MetricsRecorder;
