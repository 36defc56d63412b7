import { create, toBinary } from "@bufbuild/protobuf";
import { Metadata } from "@grpc/grpc-js";
import { MessageSchema, TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { ServiceRegistry } from "../../src/api/serve/index.js";
import type { ClientStream } from "../../src/engine/client-stream.js";
import { TunnelClientEngine } from "../../src/engine/client-engine.js";
import { resolveLimits, type TunnelLimits } from "../../src/engine/limits.js";
import { TunnelServerEngine, type StreamHandler } from "../../src/engine/server-engine.js";
import type { TunnelError } from "../../src/errors.js";
import { ProtocolRevision, type ClientToServer, type CloseStream, type ServerToClient } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { settingsFrame } from "../../src/protocol/negotiation.js";
import { MemoryConn } from "../support/memory-conn.js";

export const UNARY = "/grpchantesting.TestService/Unary";
export const CLIENT_STREAM = "/grpchantesting.TestService/ClientStream";
export const SERVER_STREAM = "/grpchantesting.TestService/ServerStream";

export function testMessage(init: Parameters<typeof create<typeof MessageSchema>>[1] = {}): Uint8Array {
  return toBinary(MessageSchema, create(MessageSchema, init));
}

/** Our tunnel-server engine with TestService, driven by frames a test writes. */
export function serverUnderTest(
  options: { flowControl?: boolean; limits?: Partial<TunnelLimits>; handlers?: Record<string, StreamHandler> } = {},
) {
  const registry = new ServiceRegistry();
  registry.registerService(TestService, testServiceImpl);
  for (const [method, handler] of Object.entries(options.handlers ?? {})) {
    const [service, name] = method.split("/");
    registry.registerHandler(service, name, handler);
  }
  const conn = new MemoryConn<ServerToClient>();
  const engine = new TunnelServerEngine(conn, {
    flowControl: options.flowControl ?? true,
    peerAdvertised: true,
    tunnelMetadata: new Metadata(),
    peer: "test",
    limits: resolveLimits(options.limits),
    lookup: (method) => registry.lookup(method),
    isShuttingDown: () => false,
  });
  engine.start();
  return {
    engine,
    conn,
    send(...frames: Array<ClientToServer | { undecodable: string }>): void {
      for (const frame of frames) engine.receive(frame);
    },
    /** The CloseStream the server sent for `id`. */
    async closeOf(id: bigint): Promise<CloseStream> {
      await conn.until((frames) => frames.some((f) => f.streamId === id && f.frame.case === "closeStream"));
      const close = conn.written.find((f) => f.streamId === id && f.frame.case === "closeStream")!;
      return close.frame.value as CloseStream;
    },
    framesOf(id: bigint): ServerToClient[] {
      return conn.written.filter((f) => f.streamId === id);
    },
    /** The error the tunnel ended with (it must have been aborted). */
    async tunnelError(): Promise<TunnelError | undefined> {
      await engine.done;
      return conn.abortedWith;
    },
  };
}

/** Our tunnel-client engine, negotiated, with calls a test starts and frames it feeds. */
export async function clientUnderTest(options: { limits?: Partial<TunnelLimits>; settings?: ServerToClient | null | "withheld" } = {}) {
  const conn = new MemoryConn<ClientToServer>();
  const engine = new TunnelClientEngine(conn, {
    flowControl: true,
    expectSettings: options.settings !== null,
    limits: resolveLimits(options.limits),
  });
  if (options.settings !== null && options.settings !== "withheld") {
    engine.receive(options.settings ?? settingsFrame(true));
  }
  return {
    engine,
    conn,
    open(method = UNARY): ClientStream {
      return engine.openStream(method, new Metadata());
    },
    feed(...frames: Array<ServerToClient | { undecodable: string }>): void {
      for (const frame of frames) engine.receive(frame);
    },
    /** True when the client told the server it cancelled `id`. */
    sentCancel(id: bigint): boolean {
      return conn.written.some((f) => f.streamId === id && f.frame.case === "cancel");
    },
  };
}

export { ProtocolRevision };
