import {
  Metadata,
  propagate,
  type CallCredentials,
  type ChannelInterface,
  type Deadline,
  type experimental,
  type InterceptingListener,
  type StatusObject,
} from "@grpc/grpc-js";
import { Code } from "../code.js";
import { TunnelError } from "../errors.js";
import type { CallChannel } from "../api/client/index.js";
import type { CallStream as TunnelCallStream } from "../api/client/index.js";
import { deferred } from "../deferred.js";
import type { CallEnd } from "../ended.js";
import { grpcStatusFromCallEnd, grpcStatusFromError } from "../api/grpc-services/index.js";

/** grpc-js's call interface (`grpc.experimental.CallStream`), as the channel returns it. */
type CallStream = experimental.CallStream;
type ServerSurfaceCall = NonNullable<Parameters<ChannelInterface["createCall"]>[3]>;
type MessageContext = Parameters<CallStream["sendMessageWithContext"]>[0];

export interface TunnelCallInit {
  channel: CallChannel;
  /** "/pkg.Service/Method". */
  method: string;
  /** Absolute deadline in ms since the epoch; undefined for none. */
  deadline: number | undefined;
  host: string;
  parentCall: ServerSurfaceCall | null;
  propagateFlags: number;
  callNumber: number;
}

/**
 * One grpc-js call carried by a tunnel: the bottom of grpc-js's call stack
 * (below interceptors and (de)serialization), driving a tunnel CallStream
 * in bytes.
 *
 * Ordering follows grpc-js: response metadata, then one message per
 * `startRead()`, then exactly one status, after which nothing is delivered.
 * Messages that arrived before the server ended the call are all delivered
 * before its status (error or not); a local end (cancel, deadline, tunnel
 * failure) delivers the status at once.
 */
export class TunnelCall implements CallStream {
  private readonly init: TunnelCallInit;
  private deadline: number | undefined;
  private readonly startTime = Date.now();
  private listener: InterceptingListener | undefined;
  private credentials: CallCredentials | undefined;
  private stream: TunnelCallStream | undefined;
  private peer = "unknown";
  /** Sends and the half-close, in order, once the stream exists. */
  private outbound: Promise<void> = Promise.resolve();
  /** The stream once started; undefined when the call ended before it could start. */
  private readonly started = deferred<TunnelCallStream | undefined>();
  // Response side.
  private heldHeaders: Metadata | undefined;
  private headersDelivered = false;
  private readsWanted = 0;
  private reading = false;
  private heldMessage: Buffer | undefined;
  private readsEnded = false;
  private outcome: CallEnd | undefined;
  /** The status, once decided (a cancel decides it before the stream ends). */
  private status: StatusObject | undefined;
  private statusDelivered = false;
  private readonly onParentCancelled = () => this.cancelWithStatus(Code.CANCELLED, "Cancelled by parent call");

  constructor(init: TunnelCallInit) {
    this.init = init;
    this.deadline = init.deadline;
    const parent = init.parentCall;
    if (parent !== null) {
      if (init.propagateFlags & propagate.CANCELLATION) {
        parent.on("cancelled", this.onParentCancelled);
      }
      if (init.propagateFlags & propagate.DEADLINE) {
        this.deadline = earlier(this.deadline, toMillis(parent.getDeadline()));
      }
    }
  }

  start(metadata: Metadata, listener: InterceptingListener): void {
    this.listener = listener;
    if (this.status !== undefined) {
      this.started.resolve(undefined);
      this.deliverStatusSoon();
      return;
    }
    const credentials = this.credentials;
    if (credentials === undefined) {
      this.open(metadata);
      return;
    }
    credentials.generateMetadata({ service_url: serviceUrl(this.init.host, this.init.method), method_name: this.init.method }).then(
      (extra) => {
        const withCredentials = metadata.clone();
        withCredentials.merge(extra);
        this.open(withCredentials);
      },
      (e: { code?: unknown; message?: string }) => {
        const status = controlPlaneStatus(
          typeof e?.code === "number" ? e.code : Code.UNKNOWN,
          `Getting metadata from plugin failed with error: ${e?.message}`,
        );
        this.end({ ...status, metadata: new Metadata() });
        this.started.resolve(undefined);
        this.deliverStatusSoon();
      },
    );
  }

  sendMessageWithContext(context: MessageContext, message: Buffer): void {
    const sent = this.outbound
      .then(() => this.started.promise)
      .then(async (stream) => {
        if (stream === undefined || stream.closed) {
          return;
        }
        try {
          await stream.send(message);
        } catch (e) {
          if (!stream.closed) {
            this.cancelWith(TunnelError.from(e, Code.INTERNAL));
          }
        }
      });
    this.outbound = sent;
    // grpc-js calls the write callback whether or not the write succeeded;
    // the call's status reports failures.
    void sent.then(() => context.callback?.());
  }

  halfClose(): void {
    this.outbound = this.outbound.then(() => this.started.promise).then((stream) => stream?.closeSend());
  }

  startRead(): void {
    this.readsWanted++;
    this.pump();
  }

  cancelWithStatus(code: number, details: string): void {
    this.cancelWith(new TunnelError(code, details));
  }

  getPeer(): string {
    return this.peer;
  }

  getCallNumber(): number {
    return this.init.callNumber;
  }

  setCredentials(credentials: CallCredentials): void {
    this.credentials = this.credentials === undefined ? credentials : this.credentials.compose(credentials);
  }

  getAuthContext(): null {
    return null;
  }

  private open(metadata: Metadata): void {
    if (this.status !== undefined) {
      this.started.resolve(undefined);
      this.deliverStatusSoon();
      return;
    }
    let stream: TunnelCallStream;
    try {
      stream = this.init.channel.startCall(this.init.method, {
        metadata,
        deadline: this.deadline,
        // grpc-js's per-call waitForReady travels as a metadata option.
        waitForReady: metadata.getOptions().waitForReady === true,
        onHeader: (headers) => this.receiveHeaders(headers),
        onTunnel: (tunnel) => (this.peer = tunnel.peer),
      });
    } catch (e) {
      // No tunnel to carry the call, or metadata it cannot carry.
      this.end(grpcStatusFromError(TunnelError.from(e, Code.UNAVAILABLE)));
      this.started.resolve(undefined);
      this.deliverStatusSoon();
      return;
    }
    this.stream = stream;
    this.started.resolve(stream);
    void stream.done.then((outcome) => {
      this.outcome = outcome;
      this.init.parentCall?.removeListener("cancelled", this.onParentCancelled);
      this.pump();
    });
    this.pump(); // reads asked for while the call was waiting for its credentials
  }

  private cancelWith(reason: TunnelError): void {
    if (this.status !== undefined) {
      return;
    }
    this.end({ code: reason.code, details: reason.rawMessage, metadata: new Metadata() });
    this.stream?.cancel(reason);
    if (this.listener !== undefined) {
      this.deliverStatusSoon();
    }
  }

  /** Decides the status (first decision wins). */
  private end(status: StatusObject): void {
    if (this.status === undefined) {
      this.status = status;
    }
  }

  private receiveHeaders(headers: Metadata): void {
    // Empty headers are held back: a gRPC server that fails a call before
    // sending anything answers "trailers only", and grpc-js then reports no
    // metadata at all. They are delivered with the first message or an OK status.
    if (Object.keys(headers.getMap()).length === 0) {
      this.heldHeaders = headers;
      return;
    }
    this.deliverHeaders(headers);
  }

  private deliverHeaders(headers: Metadata | undefined): void {
    if (this.headersDelivered || headers === undefined || this.statusDelivered) {
      return;
    }
    this.headersDelivered = true;
    this.listener?.onReceiveMetadata(headers);
  }

  /**
   * Moves responses to the listener: one per wanted read. Once the call has
   * ended it keeps reading ahead (one message held) to learn when the last
   * message has been delivered, so the status follows it without another
   * `startRead`.
   */
  private pump(): void {
    const stream = this.stream;
    if (this.statusDelivered || stream === undefined) {
      return;
    }
    if (this.status !== undefined && this.outcome === undefined) {
      return; // cancelled locally: the status is on its way
    }
    if (this.heldMessage !== undefined && this.readsWanted > 0) {
      const message = this.heldMessage;
      this.heldMessage = undefined;
      this.readsWanted--;
      this.deliverHeaders(this.heldHeaders);
      this.listener?.onReceiveMessage(message);
    }
    if (this.reading || this.heldMessage !== undefined) {
      return;
    }
    if (this.readsEnded) {
      this.deliverFinalStatus();
      return;
    }
    if (this.readsWanted === 0 && this.outcome === undefined) {
      return;
    }
    this.reading = true;
    stream.read().then(
      (message) => {
        this.reading = false;
        if (message === undefined) {
          this.readsEnded = true;
        } else {
          this.heldMessage = Buffer.isBuffer(message) ? message : Buffer.from(message.buffer, message.byteOffset, message.byteLength);
        }
        this.pump();
      },
      () => {
        this.reading = false;
        this.readsEnded = true;
        this.pump();
      },
    );
  }

  private deliverFinalStatus(): void {
    const outcome = this.outcome;
    if (outcome === undefined) {
      return; // read() ends only after the call has; the outcome is a tick away
    }
    if (outcome.error === undefined) {
      this.deliverHeaders(this.heldHeaders);
    }
    this.end(this.statusOf(outcome));
    this.deliverStatus();
  }

  private statusOf(outcome: CallEnd): StatusObject {
    const status = grpcStatusFromCallEnd(outcome);
    // The tunnel's own deadline timer ends the call like grpc-js's does.
    if (status.code === Code.DEADLINE_EXCEEDED && outcome.error?.rawMessage === "deadline exceeded") {
      status.details = `Deadline exceeded after ${((Date.now() - this.startTime) / 1000).toFixed(3)}s`;
    }
    return status;
  }

  private deliverStatusSoon(): void {
    process.nextTick(() => this.deliverStatus());
  }

  private deliverStatus(): void {
    const status = this.status;
    if (this.statusDelivered || status === undefined || this.listener === undefined) {
      return;
    }
    this.statusDelivered = true;
    this.heldMessage = undefined;
    this.init.parentCall?.removeListener("cancelled", this.onParentCancelled);
    this.listener.onReceiveStatus(status);
  }
}

/** A grpc-js deadline as ms since the epoch; undefined for none (Infinity). */
export function toMillis(deadline: Deadline): number | undefined {
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}

function earlier(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

// Codes grpc-js does not let a control plane (e.g. call credentials) produce.
const CONTROL_PLANE_CODES_NOT_ALLOWED: readonly number[] = [
  Code.OK,
  Code.INVALID_ARGUMENT,
  Code.NOT_FOUND,
  Code.ALREADY_EXISTS,
  Code.FAILED_PRECONDITION,
  Code.ABORTED,
  Code.OUT_OF_RANGE,
  Code.DATA_LOSS,
];

/** grpc-js's restrictControlPlaneStatusCode. */
function controlPlaneStatus(code: number, details: string): { code: number; details: string } {
  if (CONTROL_PLANE_CODES_NOT_ALLOWED.includes(code)) {
    return { code: Code.INTERNAL, details: `Invalid status from control plane: ${code} ${Code[code]} ${details}` };
  }
  return { code, details };
}

/** What grpc-js passes call credentials as `service_url`: "https://host/pkg.Service". */
function serviceUrl(host: string, method: string): string {
  const path = method.startsWith("/") ? method.slice(1) : method;
  const service = path.slice(0, Math.max(0, path.lastIndexOf("/")));
  return `https://${host}/${service}`;
}
