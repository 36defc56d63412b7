import * as grpc from "@grpc/grpc-js";
import { Code, TunnelError, type CallChannel, type CallOptions } from "@protoc-gen-tunnel/runtime";
import {
  STATUS_DETAILS_KEY,
  toMetadata,
  tunnelErrorFromGrpcStatus,
  type CallEnd,
  type CallStream,
} from "@protoc-gen-tunnel/runtime/protocol";
import { readMessages, writeMessage } from "./stream-io.js";

/**
 * A CallChannel over plain grpc-js, without a tunnel: each call is a grpc-js
 * call in bytes, so the runtime's typed calls (`unaryCall`, ...,
 * `createTunnelClient`) run on it unchanged, with the same CallOptions and
 * the same TunnelError on failure (details from `grpc-status-details-bin`).
 * A caller cannot tell it from a TunnelChannel except by the transport.
 */
export class DirectChannel implements CallChannel {
  constructor(readonly client: grpc.Client) {}

  /** A channel to `address` (e.g. "127.0.0.1:26354"), insecure by default. */
  static connect(
    address: string,
    credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
    options?: grpc.ClientOptions,
  ): DirectChannel {
    return new DirectChannel(new grpc.Client(address, credentials, options));
  }

  close(): void {
    this.client.close();
  }

  startCall(method: string, options: CallOptions = {}): CallStream {
    if (options.signal?.aborted) {
      throw TunnelError.from(options.signal.reason, Code.CANCELLED);
    }
    // Every kind of call is a bidi call in bytes on the wire; the typed calls check the message counts.
    const call = this.client.makeBidiStreamRequest(
      method,
      (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      // A plain Uint8Array view, as the tunnel delivers messages.
      (bytes: Buffer) => new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      toMetadata(options.metadata),
      grpcCallOptions(options),
    );
    return new GrpcCallStream(call, method, options);
  }
}

function grpcCallOptions(options: CallOptions): grpc.CallOptions {
  const candidates: number[] = [];
  if (options.timeoutMs !== undefined) {
    candidates.push(Date.now() + options.timeoutMs);
  }
  if (options.deadline !== undefined) {
    candidates.push(options.deadline instanceof Date ? options.deadline.getTime() : options.deadline);
  }
  return candidates.length === 0 ? {} : { deadline: Math.min(...candidates) };
}

/**
 * One grpc-js call as a CallStream: delivers headers to `onHeader` (always,
 * empty when the server sent none, as a tunnel does), cancels on abort, and
 * turns the final status into the call's end.
 */
class GrpcCallStream implements CallStream {
  readonly done: Promise<CallEnd>;
  private end: CallEnd | undefined;
  /** Aborted once the call has ended, however it ended: stops a waiting send. */
  private readonly ended = new AbortController();
  private cancelReason: TunnelError | undefined;
  private headersDelivered = false;
  private readonly responses: AsyncGenerator<Uint8Array>;

  constructor(
    private readonly call: grpc.ClientDuplexStream<Uint8Array, Uint8Array>,
    readonly method: string,
    private readonly options: CallOptions,
  ) {
    const { signal } = options;
    const onAbort = () => this.cancel(TunnelError.from(signal?.reason, Code.CANCELLED));
    call.on("error", () => {}); // emitted for every non-OK status; 'status' carries the same
    call.on("metadata", (headers: grpc.Metadata) => this.deliverHeaders(headers));
    this.done = new Promise((resolve) => {
      call.on("status", (status: grpc.StatusObject) => {
        signal?.removeEventListener("abort", onAbort);
        this.deliverHeaders(new grpc.Metadata());
        const error = this.errorOf(status);
        const trailers = status.metadata.clone();
        trailers.remove(STATUS_DETAILS_KEY); // carried as the error's details instead
        this.end = { error, trailers };
        this.ended.abort(error ?? new TunnelError(Code.INTERNAL, "call already completed"));
        resolve(this.end);
      });
    });
    signal?.addEventListener("abort", onAbort, { once: true });
    this.responses = readMessages<Uint8Array>(call);
  }

  get closed(): boolean {
    return this.end !== undefined;
  }

  send(message: Uint8Array): Promise<void> {
    return writeMessage(this.call, message, this.ended.signal);
  }

  closeSend(): void {
    if (!this.closed) {
      this.call.end();
    }
  }

  async read(): Promise<Uint8Array | undefined> {
    // Responses that arrived before an error are still delivered, as over a tunnel.
    const next = await this.responses.next();
    if (!next.done) {
      return next.value;
    }
    const { error } = await this.done;
    if (error !== undefined) {
      throw error;
    }
    return undefined;
  }

  cancel(reason?: TunnelError): void {
    if (this.closed) {
      return;
    }
    // As over a tunnel: the call fails with the reason, not grpc-js's bare CANCELLED.
    this.cancelReason ??= reason ?? new TunnelError(Code.CANCELLED, "call cancelled");
    this.call.cancel();
  }

  private errorOf(status: grpc.StatusObject): TunnelError | undefined {
    if (status.code === Code.OK) {
      return undefined;
    }
    if (status.code === Code.CANCELLED && this.cancelReason !== undefined) {
      return this.cancelReason;
    }
    return tunnelErrorFromGrpcStatus(status);
  }

  private deliverHeaders(headers: grpc.Metadata): void {
    if (!this.headersDelivered) {
      this.headersDelivered = true;
      this.options.onHeader?.(headers);
    }
  }
}
