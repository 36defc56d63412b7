import * as grpc from "@grpc/grpc-js";
import type { UndecodableFrame } from "../../src/engine/frame-conn.js";
import type { ClientToServer, ServerToClient } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { OPEN_TUNNEL_PATH } from "../../src/protocol/constants.js";
import { deserializeServerToClient, serializeClientToServer } from "../../src/transport/tunnel-service.js";

/**
 * A hand-driven tunnel client: a real OpenTunnel RPC on which a test writes
 * frames it builds itself and reads back exactly what the server sent.
 */
export class RawTunnel {
  readonly call: grpc.ClientDuplexStream<ClientToServer, ServerToClient | UndecodableFrame>;
  readonly received: ServerToClient[] = [];
  readonly headers: Promise<grpc.Metadata>;
  readonly status: Promise<grpc.StatusObject>;
  private waiters: Array<() => void> = [];

  constructor(client: grpc.Client, options: { negotiate: boolean }) {
    const md = new grpc.Metadata();
    if (options.negotiate) {
      md.set("grpctunnel-negotiate", "on");
    }
    this.call = client.makeBidiStreamRequest(OPEN_TUNNEL_PATH, serializeClientToServer, deserializeServerToClient, md, {});
    this.headers = new Promise((resolve) => this.call.once("metadata", resolve));
    this.status = new Promise((resolve) => this.call.once("status", resolve));
    this.call.on("error", () => {});
    this.call.on("data", (frame: ServerToClient) => {
      this.received.push(frame);
      for (const wake of this.waiters.splice(0)) {
        wake();
      }
    });
    void this.status.then(() => {
      for (const wake of this.waiters.splice(0)) {
        wake();
      }
    });
  }

  send(frame: ClientToServer): void {
    this.call.write(frame);
  }

  /** Waits until a received frame matches; rejects if the RPC ends first. */
  async waitFor(test: (frame: ServerToClient) => boolean): Promise<ServerToClient> {
    let ended = false;
    void this.status.then(() => (ended = true));
    for (;;) {
      const found = this.received.find(test);
      if (found !== undefined) {
        return found;
      }
      if (ended) {
        throw new Error(`tunnel RPC ended before the expected frame; got ${this.received.map((f) => f.frame.case).join(", ")}`);
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  framesOf(streamId: bigint): ServerToClient[] {
    return this.received.filter((f) => f.streamId === streamId);
  }
}

export { c2s } from "./frames.js";
