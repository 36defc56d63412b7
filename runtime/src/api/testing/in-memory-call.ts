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

/** What both ends share: the pipe towards the other end, reading from the other's, and the frame codec. */
abstract class CallEnd<Out, In> extends EventEmitter {
  /** Frames (and headers, status, half-close) towards the other end. */
  readonly outbound: Pipe;

  constructor(
    private readonly codec: Codec<Out, In>,
    private readonly peer: string,
  ) {
    super();
    this.outbound = new Pipe(
      (item) => this.other()?.receive(item),
      () => this.emit("drain"),
    );
  }

  /** The other end, whose pipe this end reads; none before it exists. */
  protected abstract other(): CallEnd<unknown, unknown> | undefined;

  /** What the other end sent. */
  abstract receive(item: Item): void;

  /** Queues a frame, serialized now; `sent` runs once the bytes are copied out of the writer's buffer. */
  protected queue(frame: Out, sent: (() => void) | undefined): boolean {
    const ok = this.outbound.push({ bytes: copyOf(this.codec.serialize(frame)) });
    if (sent !== undefined) {
      queueMicrotask(sent);
    }
    return ok;
  }

  protected decode(bytes: Uint8Array): In {
    return this.codec.deserialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  /** Listening for "data" lets the other end's frames flow, as on a grpc-js call. */
  override on(event: string | symbol, listener: (...args: never[]) => void): this {
    if (event === "data") {
      this.other()?.outbound.listen();
    }
    return super.on(event, listener as (...args: unknown[]) => void);
  }

  pause(): this {
    this.other()?.outbound.pause();
    return this;
  }

  resume(): this {
    this.other()?.outbound.resume();
    return this;
  }

  getPeer(): string {
    return this.peer;
  }

  getAuthContext(): Record<string, never> {
    return {};
  }
}

/** The network client's end: a grpc-js ClientDuplexStream as far as the runtime uses one. */
export class InMemoryClientCall<Out, In> extends CallEnd<Out, In> {
  /** The other end; none when the method is not served (the call then only gets its status). */
  server: InMemoryServerCall<unknown, unknown> | undefined;
  /** Set once the call's status is known here. */
  finished = false;

  protected other(): InMemoryServerCall<unknown, unknown> | undefined {
    return this.server;
  }

  write(frame: Out, sent?: () => void): boolean {
    return this.queue(frame, sent);
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

  /** What the server sent: a frame, its headers, or its status. */
  receive(item: Item): void {
    if (this.finished) {
      return;
    }
    if ("bytes" in item) {
      this.emit("data", this.decode(item.bytes));
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
export class InMemoryServerCall<In, Out> extends CallEnd<Out, In> {
  /** True once the RPC is over at the transport (as grpc-js sets it, also after a status went out). */
  cancelled = false;
  private statusSent = false;

  constructor(
    private readonly client: InMemoryClientCall<unknown, unknown>,
    codec: Codec<Out, In>,
    readonly metadata: Metadata,
    clientPeer: string,
  ) {
    super(codec, clientPeer);
  }

  protected other(): InMemoryClientCall<unknown, unknown> {
    return this.client;
  }

  write(frame: Out, sent?: () => void): boolean {
    if (this.statusSent) {
      sent?.();
      return true;
    }
    return this.queue(frame, sent);
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

  /** What the client sent: a frame or its half-close. */
  receive(item: Item): void {
    if (this.cancelled || this.statusSent) {
      return;
    }
    if ("bytes" in item) {
      super.emit("data", this.decode(item.bytes));
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
