import { EventEmitter } from "node:events";
import { Metadata, type StatusObject } from "@grpc/grpc-js";
import { Code } from "../../code.js";

/**
 * The two ends of one tunnel RPC in memory, shaped like the grpc-js call
 * objects the runtime's transport adapters use (a client duplex call, a
 * server duplex call). Frames are serialized on write and parsed on
 * delivery with the tunnel service's own codecs, as on the wire; delivery
 * is asynchronous, in order, paused while the reader pauses; frames wait
 * until the reader listens for "data" (as a grpc-js call buffers them until
 * then); and a writer
 * is told to wait (`write` returns false, then "drain") while more than
 * HIGH_WATER_BYTES are queued towards a reader.
 */

const HIGH_WATER_BYTES = 64 * 1024;

type Item = { bytes: Uint8Array } | { headers: Metadata } | { status: StatusObject } | { halfClose: true };

/** One direction of the RPC: what a writer queued for a reader. */
class Pipe {
  private readonly items: Item[] = [];
  private queued = 0;
  private paused = false;
  /** Frames wait until the reader has a "data" listener. */
  private listening = false;
  private scheduled = false;
  private blocked = false;
  /** Set once the RPC is over: nothing more is delivered. */
  closed = false;

  constructor(
    private readonly deliver: (item: Item) => void,
    private readonly drained: () => void,
  ) {}

  /** Queues an item; false when the writer should wait for drain. */
  push(item: Item): boolean {
    if (this.closed) {
      return true;
    }
    this.items.push(item);
    if ("bytes" in item) {
      this.queued += item.bytes.byteLength;
    }
    this.schedule();
    const ok = this.queued < HIGH_WATER_BYTES;
    this.blocked ||= !ok;
    return ok;
  }

  pause(): void {
    this.paused = true;
  }

  /** The reader listens for frames now. */
  listen(): void {
    this.listening = true;
    this.schedule();
  }

  resume(): void {
    this.paused = false;
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled && !this.paused && this.items.length > 0) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    while (!this.paused && !this.closed && this.items.length > 0) {
      if (!this.listening && "bytes" in this.items[0]!) {
        break;
      }
      const item = this.items.shift()!;
      if ("bytes" in item) {
        this.queued -= item.bytes.byteLength;
      }
      this.deliver(item);
    }
    if (this.blocked && this.queued < HIGH_WATER_BYTES) {
      this.blocked = false;
      this.drained();
    }
  }
}

interface Codec<Out, In> {
  serialize(frame: Out): Buffer;
  deserialize(bytes: Buffer): In;
}

/** A copy of serialized bytes: the writer may reuse its buffer once told the frame was sent. */
function copyOf(bytes: Buffer): Uint8Array {
  return Uint8Array.prototype.slice.call(bytes);
}

/** The network client's end: a grpc-js ClientDuplexStream as far as the runtime uses one. */
export class InMemoryClientCall<Out, In> extends EventEmitter {
  /** The other end; none when the method is not served (the call then only gets its status). */
  server: InMemoryServerCall<unknown, unknown> | undefined;
  /** Frames towards the server. */
  readonly outbound: Pipe;
  /** Set once the call's status is known here. */
  finished = false;

  constructor(
    private readonly codec: Codec<Out, In>,
    private readonly serverPeer: string,
  ) {
    super();
    this.outbound = new Pipe(
      (item) => this.server?.receive(item),
      () => this.emit("drain"),
    );
  }

  write(frame: Out, sent?: () => void): boolean {
    const ok = this.outbound.push({ bytes: copyOf(this.codec.serialize(frame)) });
    if (sent !== undefined) {
      queueMicrotask(sent);
    }
    return ok;
  }

  end(): void {
    this.outbound.push({ halfClose: true });
  }

  cancel(): void {
    if (this.finished) {
      return;
    }
    this.server?.cancelledByClient();
    this.finish({ code: Code.CANCELLED, details: "Cancelled on client", metadata: new Metadata() });
  }

  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    if (event === "data") {
      this.server?.outbound.listen();
    }
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  pause(): this {
    this.server?.outbound.pause();
    return this;
  }

  resume(): this {
    this.server?.outbound.resume();
    return this;
  }

  getPeer(): string {
    return this.serverPeer;
  }

  getAuthContext(): Record<string, never> {
    return {};
  }

  /** What the server sent: a frame, its headers, or its status. */
  receive(item: Item): void {
    if (this.finished) {
      return;
    }
    if ("bytes" in item) {
      this.emit("data", this.codec.deserialize(Buffer.from(item.bytes.buffer, item.bytes.byteOffset, item.bytes.byteLength)));
    } else if ("headers" in item) {
      this.emit("metadata", item.headers);
    } else if ("status" in item) {
      this.finish(item.status);
    }
  }

  private finish(status: StatusObject): void {
    this.finished = true;
    this.outbound.closed = true;
    if (status.code !== Code.OK) {
      this.emit("error", Object.assign(new Error(`${status.code} ${status.details}`), status));
    }
    this.emit("status", status);
  }
}

/** The network server's end: a grpc-js ServerDuplexStream as far as the runtime uses one. */
export class InMemoryServerCall<In, Out> extends EventEmitter {
  /** Frames towards the client. */
  readonly outbound: Pipe;
  /** True once the RPC is over at the transport (as grpc-js sets it, also after a status went out). */
  cancelled = false;
  private statusSent = false;

  constructor(
    private readonly client: InMemoryClientCall<unknown, unknown>,
    private readonly codec: Codec<Out, In>,
    readonly metadata: Metadata,
    private readonly clientPeer: string,
  ) {
    super();
    this.outbound = new Pipe(
      (item) => client.receive(item),
      () => this.emit("drain"),
    );
  }

  write(frame: Out, sent?: () => void): boolean {
    if (this.statusSent) {
      sent?.();
      return true;
    }
    const ok = this.outbound.push({ bytes: copyOf(this.codec.serialize(frame)) });
    if (sent !== undefined) {
      queueMicrotask(sent);
    }
    return ok;
  }

  sendMetadata(headers: Metadata): void {
    this.outbound.push({ headers });
  }

  /** Ends the RPC with OK. */
  end(): void {
    this.sendStatus({ code: Code.OK, details: "", metadata: new Metadata() });
  }

  /** As on a grpc-js server call, emitting "error" ends the RPC with that status. */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === "error") {
      const status = args[0] as Partial<StatusObject>;
      this.sendStatus({ code: status.code ?? Code.UNKNOWN, details: status.details ?? "", metadata: status.metadata ?? new Metadata() });
      return true;
    }
    return super.emit(event, ...args);
  }

  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    if (event === "data") {
      this.client.outbound.listen();
    }
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  pause(): this {
    this.client.outbound.pause();
    return this;
  }

  resume(): this {
    this.client.outbound.resume();
    return this;
  }

  getPeer(): string {
    return this.clientPeer;
  }

  getAuthContext(): Record<string, never> {
    return {};
  }

  /** What the client sent: a frame or its half-close. */
  receive(item: Item): void {
    if (this.cancelled || this.statusSent) {
      return;
    }
    if ("bytes" in item) {
      super.emit("data", this.codec.deserialize(Buffer.from(item.bytes.buffer, item.bytes.byteOffset, item.bytes.byteLength)));
    } else if ("halfClose" in item) {
      super.emit("end");
    }
  }

  /** The client cancelled: the RPC is over, as grpc-js reports it. */
  cancelledByClient(): void {
    this.statusSent = true;
    this.outbound.closed = true;
    this.over();
  }

  private sendStatus(status: StatusObject): void {
    if (this.statusSent) {
      return;
    }
    this.statusSent = true;
    this.client.outbound.closed = true;
    this.outbound.push({ status });
    // grpc-js reports the end of the HTTP/2 stream once the status went out.
    setImmediate(() => this.over());
  }

  private over(): void {
    if (!this.cancelled) {
      this.cancelled = true;
      super.emit("cancelled", "cancelled");
    }
  }
}
