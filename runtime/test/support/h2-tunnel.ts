import * as http2 from "node:http2";
import type { ClientToServer, ServerToClient } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { OPEN_TUNNEL_PATH } from "../../src/protocol/constants.js";
import { decodeServerToClient, encodeClientToServer } from "../../src/protocol/frame-codec.js";

/**
 * A tunnel client written on node:http2 directly, for attacks grpc-js would
 * not let a client make: it writes frames as fast as it likes and reads
 * only when told to (`startReading`), so a server's answers pile up unread
 * and its HTTP/2 windows stay closed. Each session is its own TCP
 * connection; `open` starts one more tunnel RPC on it.
 */
export class H2Connection {
  readonly session: http2.ClientHttp2Session;

  constructor(address: string) {
    // An attacker queues far more than the 10 MB Node allows a session by default.
    this.session = http2.connect(`http://${address}`, { maxSessionMemory: 4096 });
    this.session.on("error", () => {});
  }

  /** Opens a tunnel RPC (negotiating), not reading its answers until told to. */
  open(path = OPEN_TUNNEL_PATH, headers: http2.OutgoingHttpHeaders = {}): H2Tunnel {
    const stream = this.session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpctunnel-negotiate": "on",
      ...headers,
    });
    return new H2Tunnel(stream);
  }

  /** Bytes this client has written to its TCP socket so far. */
  get bytesWritten(): number {
    return this.session.socket?.bytesWritten ?? 0;
  }

  close(): void {
    this.session.destroy();
  }
}

export class H2Tunnel {
  /** Frames the server sent, once reading started. */
  readonly received: ServerToClient[] = [];
  /** The tunnel RPC's grpc-status, once it ended. */
  readonly status: Promise<number>;
  /** The tunnel RPC's grpc-message, once it ended. */
  statusMessage = "";
  /** Resolves with true once the server answered with headers (the tunnel was admitted), false with a status at once. */
  readonly admitted: Promise<boolean>;
  private pending: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  constructor(readonly stream: http2.ClientHttp2Stream) {
    stream.on("error", () => {});
    stream.pause();
    this.status = new Promise((resolve) => {
      const ended = (headers: http2.IncomingHttpHeaders) => {
        this.statusMessage = decodeURIComponent(String(headers["grpc-message"] ?? ""));
        resolve(Number(headers["grpc-status"]));
      };
      stream.on("trailers", ended);
      stream.on("response", (headers) => {
        if (headers["grpc-status"] !== undefined) ended(headers);
      });
      stream.on("close", () => resolve(-1));
    });
    this.admitted = new Promise((resolve) => {
      stream.on("response", (headers) => resolve(headers["grpc-status"] === undefined));
      stream.on("close", () => resolve(false));
    });
  }

  /** Writes one frame; false when the stream's buffer is over its high-water mark. */
  send(frame: ClientToServer): boolean {
    return this.sendMessage(encodeClientToServer(frame), false);
  }

  /** Writes one gRPC message of the tunnel RPC: `body` as is, flagged compressed or not. */
  sendMessage(body: Uint8Array, compressed: boolean): boolean {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt8(compressed ? 1 : 0, 0);
    prefix.writeUInt32BE(body.length, 1);
    return this.stream.write(Buffer.concat([prefix, body]));
  }

  /** Starts reading (and decoding) what the server sent, which also reopens its windows. */
  startReading(): void {
    this.stream.on("data", (chunk: Buffer) => this.take(chunk));
    this.stream.resume();
  }

  /** The status of each stream the server closed, in order. */
  readonly closes: Array<{ streamId: bigint; code: number; message: string }> = [];

  /** Waits until `condition` holds (checked whenever frames arrive). */
  async waitUntil(condition: () => boolean): Promise<void> {
    while (!condition()) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private take(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 5) {
      const length = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + length) break;
      const frame = decodeServerToClient(this.pending.subarray(5, 5 + length));
      this.received.push(frame);
      if (frame.frame.case === "closeStream") {
        const status = frame.frame.value.status;
        this.closes.push({ streamId: frame.streamId, code: status?.code ?? 0, message: status?.message ?? "" });
      }
      this.pending = this.pending.subarray(5 + length);
    }
    for (const wake of this.waiters.splice(0)) wake();
  }
}
