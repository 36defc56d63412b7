// What a tunnel tells about itself: its TunnelInfo (ids, role, figures read
// live from the engine) and its diagnostics announcements (open once, close
// after it, durations).
import * as diagnosticsChannel from "node:diagnostics_channel";
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { Code, TunnelError } from "../src/index.js";
import { resolveLimits } from "../src/engine/limits.js";
import type { ServerToClient } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { TunnelServerEngine } from "../src/engine/server-engine.js";
import { DIAGNOSTICS_CHANNELS } from "../src/diagnostics/channels.js";
import { clientUnderTest } from "./conformance/harness.js";
import { s2c } from "./support/frames.js";
import { serverWithHeldCalls } from "./support/held-calls.js";
import { MemoryConn } from "./support/memory-conn.js";

describe("what a tunnel reports about itself (TunnelInfo)", () => {
  it("counts the message bytes of running and ended calls, its calls in flight, and whether it ended", async () => {
    const client = await clientUnderTest();
    const info = client.engine.info;
    const first = client.open();
    await first.send(new Uint8Array(5));
    client.feed(s2c.headers(1n), s2c.message(1n, 3, new Uint8Array(3)));
    const second = client.open();
    await second.send(new Uint8Array(2));
    expect([info.bytesSent, info.bytesReceived, info.activeCalls]).toEqual([7, 3, 2]);
    client.feed(s2c.close(1n));
    await first.done;
    expect([info.bytesSent, info.bytesReceived, info.activeCalls]).toEqual([7, 3, 1]);
    client.feed(s2c.message(2n, 4, new Uint8Array(4)));
    expect(info.bytesReceived).toBe(7);
    expect(info.closed).toBe(false);
    client.engine.close();
    expect([info.bytesSent, info.bytesReceived, info.activeCalls, info.closed]).toEqual([7, 7, 0, true]);
    expect(info.role).toBe("client");
    expect(info.direction).toBe("forward");
  });

  it("counts a chunk that waited for the transport once it went, and one dropped with its call never", async () => {
    const client = await clientUnderTest();
    const call = client.open();
    client.conn.writable = false;
    await call.send(new Uint8Array(10)); // taken at once: the transport is full from now on
    const waiting = call.send(new Uint8Array(20));
    expect(client.engine.info.bytesSent).toBe(10);
    client.conn.drain();
    await waiting;
    expect(client.engine.info.bytesSent).toBe(30);
    client.conn.writable = false;
    await call.send(new Uint8Array(1));
    const dropped = call.send(new Uint8Array(40));
    call.cancel();
    await expect(dropped).rejects.toMatchObject({ code: Code.CANCELLED });
    client.conn.drain();
    expect(client.engine.info.bytesSent).toBe(31);
    client.engine.close();
  });

  it("ids increase from tunnel to tunnel; a server's info names its role, direction, peer and tunnel metadata", async () => {
    const before = Date.now();
    const first = await clientUnderTest();
    const { engine } = serverWithHeldCalls();
    expect(engine.info.id).toBeGreaterThan(first.engine.info.id);
    expect(engine.info.openedAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(engine.info.openedAt.getTime()).toBeLessThanOrEqual(Date.now());
    expect([engine.info.role, engine.info.direction, engine.info.peer]).toEqual(["server", "forward", "test"]);
    expect(engine.info.affinityKey).toBeUndefined();
    const reverse = new TunnelServerEngine(new MemoryConn<ServerToClient>(), {
      flowControl: true,
      peerAdvertised: false,
      tunnelMetadata: new Metadata({}),
      peer: "hub:1",
      direction: "reverse",
      limits: resolveLimits(undefined),
      lookup: () => undefined,
      isShuttingDown: () => false,
    });
    expect([reverse.info.direction, reverse.info.peer]).toEqual(["reverse", "hub:1"]);
    first.engine.close();
  });
});

describe("announcing a tunnel (grpctunnel:tunnel:open and :close)", () => {
  /** The tunnel open and close events published while `run` runs. */
  async function announced(run: () => Promise<void> | void): Promise<string[]> {
    const seen: string[] = [];
    const onOpen = () => seen.push("open");
    const onClose = (event: unknown) => seen.push(`close ${(event as { reason: string }).reason}`);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.tunnelOpen, onOpen);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.tunnelClose, onClose);
    try {
      await run();
    } finally {
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.tunnelOpen, onOpen);
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.tunnelClose, onClose);
    }
    return seen;
  }

  it("once, however often the owner announces it; its end after it", async () => {
    const events = await announced(async () => {
      const client = await clientUnderTest();
      client.engine.announceOpen();
      client.engine.announceOpen();
      expect(client.engine.announced).toBe(true);
      client.engine.abort(new TunnelError(Code.INTERNAL, "broken"));
    });
    expect(events).toEqual(["open", "close failed"]);
  });

  it("never for a tunnel that ended before it was announced, and so neither its end", async () => {
    const events = await announced(async () => {
      const client = await clientUnderTest();
      client.engine.close();
      client.engine.announceOpen();
      expect(client.engine.announced).toBe(false);
    });
    expect(events).toEqual([]);
  });

  it("a call's and a tunnel's durations are how long they lasted", async () => {
    const durations: number[] = [];
    const onCallEnd = (event: unknown) => durations.push((event as { durationMs: number }).durationMs);
    const onClose = (event: unknown) => durations.push((event as { durationMs: number }).durationMs);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.callEnd, onCallEnd);
    diagnosticsChannel.subscribe(DIAGNOSTICS_CHANNELS.tunnelClose, onClose);
    try {
      const started = performance.now();
      const client = await clientUnderTest();
      client.engine.announceOpen();
      const call = client.open();
      await new Promise((resolve) => setImmediate(resolve));
      client.feed(s2c.close(call.id));
      client.engine.close();
      const lasted = performance.now() - started;
      expect(durations).toHaveLength(2);
      for (const duration of durations) {
        expect(duration).toBeGreaterThan(0);
        expect(duration).toBeLessThanOrEqual(lasted);
      }
    } finally {
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.callEnd, onCallEnd);
      diagnosticsChannel.unsubscribe(DIAGNOSTICS_CHANNELS.tunnelClose, onClose);
    }
  });

  it("the transport's end after a close here is not a second end", async () => {
    const events = await announced(async () => {
      const client = await clientUnderTest();
      client.engine.announceOpen();
      client.engine.close();
      client.engine.transportEnded(new TunnelError(Code.UNAVAILABLE, "reset"));
      expect(client.engine.error).toBeUndefined();
      const { engine } = serverWithHeldCalls();
      engine.announceOpen();
      engine.close();
      engine.transportEnded(new TunnelError(Code.UNAVAILABLE, "reset"));
      expect(engine.error).toBeUndefined();
    });
    expect(events).toEqual(["open", "close closed", "open", "close closed"]);
  });
});

describe("a tunnel made without an identity (tests, tools)", () => {
  it("is described as a forward tunnel to no peer, with no metadata", async () => {
    const { engine } = await clientUnderTest();
    expect([engine.info.role, engine.info.direction, engine.info.peer]).toEqual(["client", "forward", ""]);
    expect(engine.info.metadata.getMap()).toEqual({});
    // Each its own: metadata set on one is not another's.
    const other = await clientUnderTest();
    engine.info.metadata.set("x-mine", "1");
    expect(other.engine.info.metadata.getMap()).toEqual({});
    other.engine.close();
    engine.close();
  });
});
