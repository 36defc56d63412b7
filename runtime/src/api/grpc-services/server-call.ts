import { Duplex } from "node:stream";
import { Metadata, status as Status, type ChannelInterface, type ServerInterceptingCallInterface } from "@grpc/grpc-js";
import { isValidCode } from "../../code.js";
import { isMetadata } from "../../metadata.js";
import type { StatusLike } from "./status-details.js";

/*
 * The call objects grpc-js style handlers receive, built like grpc-js 1.14
 * builds its own (server-call.js): client-streaming and bidi handlers get a
 * Duplex; unary and server-streaming handlers get one that also carries
 * `request`. They sit on a `ServerInterceptingCallInterface` (a tunneled call,
 * possibly wrapped by grpc-js server interceptors).
 */

type Call = ServerInterceptingCallInterface;
/** grpc-js's `ServerSurfaceCall` (not exported by name): what every handler's call object is. */
type ServerSurfaceCall = NonNullable<Parameters<ChannelInterface["createCall"]>[3]>;
type WriteCallback = (error?: Error | null) => void;

const tunnelMetadataOf = new WeakMap<object, Metadata>();

/**
 * The request metadata of the tunnel RPC that carries a tunneled call
 * (Go's `TunnelMetadataFromIncomingContext`), for a call object a grpc-js
 * style handler received from `addService`; undefined for a call that did
 * not come through a tunnel.
 */
export function tunnelMetadataFromCall(call: ServerSurfaceCall): Metadata | undefined {
  return tunnelMetadataOf.get(call);
}

export function rememberTunnelMetadata(call: object, metadata: Metadata): void {
  tunnelMetadataOf.set(call, metadata);
}

/**
 * A grpc-js error status from what a handler passed to `emit('error')` or a
 * callback. Whatever that is (a primitive, an object whose getters throw),
 * the result is a valid status: a code outside 0–16 becomes UNKNOWN.
 */
export function serverErrorToStatus(error: unknown, overrideTrailers?: Metadata): StatusLike {
  try {
    const { code, details, message, metadata } = error as StatusLike & { message?: unknown };
    const status: StatusLike = {
      code: Status.UNKNOWN,
      details: typeof message === "string" ? message : "Unknown Error",
      metadata: overrideTrailers ?? (isMetadata(metadata) ? metadata : null),
    };
    if (isValidCode(code)) {
      status.code = code;
      if (typeof details === "string") {
        status.details = details;
      }
    }
    return status;
  } catch {
    return { code: Status.UNKNOWN, details: "Unknown Error", metadata: overrideTrailers ?? null };
  }
}

/** The status `_final` sends: the pending one, with the trailers given to `end` unless it has its own. */
function finalStatus(pending: StatusLike, trailers: Metadata): { code: number; details: string; metadata: Metadata } {
  return { code: pending.code ?? Status.UNKNOWN, details: pending.details ?? "", metadata: pending.metadata ?? trailers };
}

/** What client-streaming and bidi handlers get: a Duplex of requests and responses. */
export class TunnelServerDuplexStream extends Duplex {
  cancelled = false;
  private trailingMetadata = new Metadata();
  private pendingStatus: StatusLike = { code: Status.OK, details: "OK" };
  private finalStatusQueued = false;

  constructor(
    private readonly path: string,
    private readonly call: Call,
    readonly metadata: Metadata,
  ) {
    super({ objectMode: true });
    this.on("error", (err: StatusLike) => {
      this.pendingStatus = serverErrorToStatus(err);
      this.end();
    });
  }

  getPeer(): string {
    return this.call.getPeer();
  }
  sendMetadata(responseMetadata: Metadata): void {
    this.call.sendMetadata(responseMetadata);
  }
  getDeadline(): ReturnType<Call["getDeadline"]> {
    return this.call.getDeadline();
  }
  getPath(): string {
    return this.path;
  }
  getHost(): string {
    return this.call.getHost();
  }
  getAuthContext(): ReturnType<Call["getAuthContext"]> {
    return this.call.getAuthContext();
  }
  getMetricsRecorder(): ReturnType<Call["getMetricsRecorder"]> {
    return this.call.getMetricsRecorder();
  }

  override _read(_size: number): void {
    this.call.startRead();
  }

  override _write(chunk: unknown, _encoding: BufferEncoding, callback: WriteCallback): void {
    this.call.sendMessage(chunk, callback);
  }

  override _final(callback: WriteCallback): void {
    callback(null);
    this.finalStatusQueued = true;
    // A tick later, so that a write after end() in the same turn (a handler
    // bug) still ends the call with an error instead (see _destroy).
    process.nextTick(() => this.call.sendStatus(finalStatus(this.pendingStatus, this.trailingMetadata)));
  }

  /**
   * Destroyed, e.g. by a write after end() or by the handler itself: the
   * call must still end, once, and promptly (grpc-js would leave it open).
   * A status that already went out stands.
   */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error) {
      this.call.sendStatus(finalStatus(serverErrorToStatus(error), this.trailingMetadata));
    } else if (!this.finalStatusQueued) {
      this.call.sendStatus({ code: Status.UNKNOWN, details: "server call destroyed before it sent a status" });
    }
    callback(error);
  }

  /** Ends the response stream (with `metadata` as the call's trailers). */
  override end(metadata?: unknown): this {
    if (isMetadata(metadata)) {
      this.trailingMetadata = metadata;
    }
    return super.end();
  }
}

/**
 * What unary and server-streaming handlers get: the same call object with
 * the request on it (its readable side is never used; grpc-js hands these
 * handlers a plain Writable).
 */
export class TunnelServerWritableStream extends TunnelServerDuplexStream {
  constructor(
    path: string,
    call: Call,
    metadata: Metadata,
    readonly request: unknown,
  ) {
    super(path, call, metadata);
  }
}
