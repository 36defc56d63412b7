import { Metadata } from "@grpc/grpc-js";
import { resolveLimits, type TunnelLimits } from "../../src/engine/limits.js";
import type { ServerStream } from "../../src/engine/server-stream.js";
import { TunnelServerEngine } from "../../src/engine/server-engine.js";
import { ProtocolRevision, type CloseStream, type ServerToClient } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { c2s } from "./frames.js";
import { MemoryConn } from "./memory-conn.js";

/**
 * A tunnel-server engine on a MemoryConn whose one handler keeps every call
 * open and hands its stream to the test, which then plays the handler.
 */
export function serverWithHeldCalls(options: { peerAdvertised?: boolean; flowControl?: boolean; limits?: Partial<TunnelLimits> } = {}) {
  const conn = new MemoryConn<ServerToClient>();
  const streams: ServerStream[] = [];
  const engine = new TunnelServerEngine(conn, {
    flowControl: options.flowControl ?? true,
    peerAdvertised: options.peerAdvertised ?? false,
    tunnelMetadata: new Metadata(),
    peer: "test",
    limits: resolveLimits(options.limits),
    lookup: () => (stream) => {
      streams.push(stream);
      return new Promise<void>(() => {});
    },
    isShuttingDown: () => false,
  });
  engine.start();
  return {
    engine,
    conn,
    /** Every call the handler got, in order. */
    streams,
    /** Starts call `id` (with request metadata `md`) and returns its stream. */
    open(id: bigint, md: Record<string, string> = {}, revision = ProtocolRevision.REVISION_ONE): ServerStream {
      engine.receive(c2s.newStream(id, "/test.Held/Call", revision, md));
      return streams.at(-1)!;
    },
    /** The frames written for stream `id`, in order. */
    framesOf(id: bigint): ServerToClient[] {
      return conn.written.filter((f) => f.streamId === id);
    },
    /** The kinds of frames written for stream `id`, in order. */
    kinds(id: bigint): Array<ServerToClient["frame"]["case"]> {
      return conn.written.filter((f) => f.streamId === id).map((f) => f.frame.case);
    },
    /** The CloseStream written for `id` (undefined at run time if none was). */
    closeOf(id: bigint): CloseStream {
      return conn.written.find((f) => f.streamId === id && f.frame.case === "closeStream")?.frame.value as CloseStream;
    },
  };
}
