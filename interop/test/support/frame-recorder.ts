import { fromBinary } from "@bufbuild/protobuf";
import type * as grpc from "@grpc/grpc-js";
import type { tunnelServiceDefinition } from "@protoc-gen-tunnel/runtime/protocol";
import { deferred } from "../../../runtime/src/deferred.js";
import { ClientToServerSchema, ServerToClientSchema, type ClientToServer, type ServerToClient } from "@protoc-gen-tunnel/runtime/tunnelpb";

/** c2s: a ClientToServer frame (sent by the tunnel client); s2c: a ServerToClient frame. */
export type Direction = "c2s" | "s2c";

export interface RecordedFrame {
  dir: Direction;
  /** Which half of the tunnel RPC carried it. */
  rpc: "request" | "response";
  /** The exact bytes gRPC carried (without the 5-byte length prefix). */
  bytes: Uint8Array;
  frame: ClientToServer | ServerToClient;
}

type TunnelService = [typeof tunnelServiceDefinition, grpc.UntypedServiceImplementation];
type ServerCall = grpc.ServerDuplexStream<unknown, unknown>;

/** Tunnel-RPC metadata worth recording: negotiation and test keys, not what grpc-js adds (user-agent, ...). */
function recordedMetadata(md: grpc.Metadata): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, values] of Object.entries(md.toJSON())) {
    if (key === "grpctunnel-negotiate" || key.startsWith("x-") || key.startsWith("test-")) {
      out[key] = values.map(String);
    }
  }
  return out;
}

/**
 * Records every frame of the tunnels of one TunnelServiceHandler, on the
 * network server's side, without touching the runtime: it wraps the
 * serialize/deserialize functions of the service definition the handler
 * returns (so the bytes are exactly what went over gRPC, in wire order per
 * direction) and the handler functions (for the tunnel RPC's metadata and end).
 * Meant for one tunnel per handler.
 */
export class FrameRecorder {
  readonly frames: RecordedFrame[] = [];
  requestHeaders: Record<string, string[]> = {};
  responseHeaders: Record<string, string[]> = {};
  /** Resolves when the tunnel RPC is over and every frame of both directions is recorded. */
  private readonly end = deferred();
  readonly ended: Promise<void> = this.end.promise;
  private waiters: Array<{ match: (f: RecordedFrame) => boolean; resolve: () => void }> = [];

  wrap([definition, impl]: TunnelService): [grpc.ServiceDefinition, grpc.UntypedServiceImplementation] {
    const { openTunnel, openReverseTunnel } = definition;
    const wrapped = {
      openTunnel: {
        ...openTunnel,
        requestDeserialize: this.tapInbound("c2s", openTunnel.requestDeserialize),
        responseSerialize: this.tapOutbound("s2c", openTunnel.responseSerialize),
      },
      openReverseTunnel: {
        ...openReverseTunnel,
        requestDeserialize: this.tapInbound("s2c", openReverseTunnel.requestDeserialize),
        responseSerialize: this.tapOutbound("c2s", openReverseTunnel.responseSerialize),
      },
    };
    const observe = (handle: (call: ServerCall) => void) => (call: ServerCall) => {
      this.requestHeaders = recordedMetadata(call.metadata);
      const sendMetadata = call.sendMetadata.bind(call);
      call.sendMetadata = (md: grpc.Metadata) => {
        this.responseHeaders = recordedMetadata(md);
        sendMetadata(md);
      };
      // Done when the peer's side has ended and ours has flushed (grpc-js
      // serializes buffered writes late), or when the RPC was cancelled.
      const inbound = new Promise((resolve) => call.once("end", resolve));
      const outbound = new Promise((resolve) => call.once("finish", resolve));
      void Promise.all([inbound, outbound]).then(() => this.end.resolve());
      call.once("cancelled", () => this.end.resolve());
      handle(call);
    };
    return [
      wrapped,
      {
        openTunnel: observe(impl.openTunnel as (call: ServerCall) => void),
        openReverseTunnel: observe(impl.openReverseTunnel as (call: ServerCall) => void),
      },
    ];
  }

  /** Resolves once a frame matching `match` has been recorded (at once if one was). */
  waitFor(match: (frame: RecordedFrame) => boolean): Promise<void> {
    if (this.frames.some(match)) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  private tapInbound<T>(dir: Direction, deserialize: (bytes: Buffer) => T): (bytes: Buffer) => T {
    return (bytes) => {
      this.record(dir, "request", bytes);
      return deserialize(bytes);
    };
  }

  private tapOutbound<T>(dir: Direction, serialize: (frame: T) => Buffer): (frame: T) => Buffer {
    return (frame) => {
      const bytes = serialize(frame);
      this.record(dir, "response", bytes);
      return bytes;
    };
  }

  private record(dir: Direction, rpc: "request" | "response", bytes: Buffer): void {
    const copy = new Uint8Array(bytes); // grpc-js may reuse its buffers
    const frame = dir === "c2s" ? fromBinary(ClientToServerSchema, copy) : fromBinary(ServerToClientSchema, copy);
    const recorded: RecordedFrame = { dir, rpc, bytes: copy, frame };
    this.frames.push(recorded);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(recorded)) {
        return true;
      }
      w.resolve();
      return false;
    });
  }
}
