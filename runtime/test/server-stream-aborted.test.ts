// ServerStream.whenAborted: what a relay passes a caller's cancellation on
// with, instead of an AbortSignal per call. It fires exactly when `signal`
// aborts (cancel, deadline, the tunnel ending), with the same reason, and
// never after the handler itself ended the call.
import * as diagnosticsChannel from "node:diagnostics_channel";
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { resolveLimits } from "../src/engine/limits.js";
import { TunnelServerEngine } from "../src/engine/server-engine.js";
import type { ServerStream } from "../src/engine/server-stream.js";
import type { ServerToClient } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { ProtocolRevision } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { deferred } from "../src/deferred.js";
import { DIAGNOSTICS_CHANNELS } from "../src/diagnostics/channels.js";
import { c2s } from "./support/frames.js";
import { MemoryConn } from "./support/memory-conn.js";

/** An engine whose one handler hands each stream to the test and keeps it open until `release`. */
function engineWithHeldCalls() {
  const conn = new MemoryConn<ServerToClient>();
  const streams: ServerStream[] = [];
  const release = deferred();
  const engine = new TunnelServerEngine(conn, {
    flowControl: true,
    peerAdvertised: false,
    tunnelMetadata: new Metadata(),
    peer: "test",
    limits: resolveLimits(undefined),
    lookup: () => async (stream) => {
      streams.push(stream);
      await release.promise;
    },
    isShuttingDown: () => false,
  });
  engine.start();
  const open = (id: bigint) => {
    engine.receive(c2s.newStream(id, "/test.Held/Call", ProtocolRevision.REVISION_ONE));
    return streams.at(-1)!;
  };
  return { engine, conn, open, release: () => release.resolve() };
}

describe("ServerStream.whenAborted", () => {
  it("fires once, with the signal's reason, when the client cancels", () => {
    const { engine, open } = engineWithHeldCalls();
    const stream = open(1n);
    const reasons: TunnelError[] = [];
    stream.whenAborted((reason) => reasons.push(reason));
    engine.receive(c2s.cancel(1n));
    engine.receive(c2s.cancel(1n));
    expect(reasons).toHaveLength(1);
    expect(reasons[0]).toMatchObject({ code: Code.CANCELLED, rawMessage: "call cancelled by client" });
    expect(stream.signal.aborted).toBe(true);
    expect(stream.signal.reason).toBe(reasons[0]);
  });

  it("fires at once when registered after the call was aborted, and when the tunnel ends under the call", () => {
    const { engine, open } = engineWithHeldCalls();
    const cancelled = open(1n);
    const running = open(3n);
    engine.receive(c2s.cancel(1n));
    const late: TunnelError[] = [];
    cancelled.whenAborted((reason) => late.push(reason));
    expect(late.map((r) => r.code)).toEqual([Code.CANCELLED]);
    const ended: TunnelError[] = [];
    running.whenAborted((reason) => ended.push(reason));
    engine.transportEnded(new TunnelError(Code.UNAVAILABLE, "connection lost"));
    expect(ended).toHaveLength(1);
    expect(ended[0]!.code).toBe(Code.UNAVAILABLE);
  });

  it("never fires once the handler ended the call itself", async () => {
    const { engine, conn, open, release } = engineWithHeldCalls();
    const stream = open(1n);
    const reasons: TunnelError[] = [];
    stream.whenAborted((reason) => reasons.push(reason));
    release();
    await conn.until((frames) => frames.some((f) => f.frame.case === "closeStream"));
    engine.receive(c2s.cancel(1n));
    engine.transportEnded(new TunnelError(Code.UNAVAILABLE, "connection lost"));
    expect(reasons).toEqual([]);
  });
});

describe("TunnelServerEngine.close", () => {
  it("cancels the running calls with CANCELLED, ends the tunnel RPC cleanly, and reports the tunnel closed here", async () => {
    const { engine, conn, open } = engineWithHeldCalls();
    const closes: Array<{ reason: string }> = [];
    const onClose = (message: unknown) => closes.push(message as { reason: string });
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.tunnelClose, onClose);
    try {
      engine.announceOpen();
      const stream = open(1n);
      const reasons: TunnelError[] = [];
      stream.whenAborted((reason) => reasons.push(reason));
      engine.close();
      expect(reasons).toEqual([expect.objectContaining({ code: Code.CANCELLED, rawMessage: "tunnel closed" })]);
      expect([conn.ended, conn.abortedWith]).toEqual([true, undefined]);
      expect((await engine.done).error).toBeUndefined();
      expect(closes.map((c) => c.reason)).toEqual(["closed"]);
      engine.close(); // once is enough
      expect(closes).toHaveLength(1);
    } finally {
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.tunnelClose, onClose);
    }
  });
});
