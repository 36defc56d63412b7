import { create } from "@bufbuild/protobuf";
import { EmptySchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import type { UndecodableFrame } from "../../src/engine/frame-conn.js";
import {
  ClientToServerSchema,
  MessageDataSchema,
  MetadataSchema,
  NewStreamSchema,
  ProtocolRevision,
  type ClientToServer,
  type ServerToClient,
} from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
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

/** Frame builders for tests (the runtime has its own; these stay independent on purpose). */
export const c2s = {
  newStream: (id: bigint, method: string, revision = ProtocolRevision.REVISION_ONE, md: Record<string, string> = {}) =>
    create(ClientToServerSchema, {
      streamId: id,
      frame: {
        case: "newStream",
        value: create(NewStreamSchema, {
          methodName: method,
          initialWindowSize: 65_536,
          protocolRevision: revision,
          requestHeaders: create(MetadataSchema, {
            md: Object.fromEntries(Object.entries(md).map(([k, v]) => [k, { val: [v] }])),
          }),
        }),
      },
    }),
  message: (id: bigint, size: number, data: Uint8Array) =>
    create(ClientToServerSchema, { streamId: id, frame: { case: "requestMessage", value: create(MessageDataSchema, { size, data }) } }),
  more: (id: bigint, data: Uint8Array) => create(ClientToServerSchema, { streamId: id, frame: { case: "moreRequestData", value: data } }),
  halfClose: (id: bigint) => create(ClientToServerSchema, { streamId: id, frame: { case: "halfClose", value: create(EmptySchema) } }),
  cancel: (id: bigint) => create(ClientToServerSchema, { streamId: id, frame: { case: "cancel", value: create(EmptySchema) } }),
  windowUpdate: (id: bigint, n: number) => create(ClientToServerSchema, { streamId: id, frame: { case: "windowUpdate", value: n } }),
};
