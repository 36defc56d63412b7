// Keep-alive mode of ReverseTunnelServer.serve: re-open the reverse tunnel
// after it drops, with exponential backoff and jitter, until told to stop.
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, serverStreamCall, unaryCall } from "../src/index.js";
import type { ServeResult } from "../src/protocol.js";
import { tunnelServiceDefinition, type ReconnectOptions, type RetryPlan, type ReverseTunnel } from "../src/protocol.js";
import { jittered } from "../src/api/reverse/index.js";
import { EventLog, settle, timed } from "./support/events.js";
import { connectAgent, Gate, servedBy, startAgent, startHub, type Agent } from "./support/reverse.js";
import { Cleanup, startServer } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Short grpc-js connection backoff, so that a restarted server is dialed again quickly. */
const fastRedial: grpc.ClientOptions = { "grpc.initial_reconnect_backoff_ms": 50, "grpc.max_reconnect_backoff_ms": 200 };

interface Recorder {
  connects: EventLog<ReverseTunnel>;
  disconnects: EventLog<{ result: ServeResult; retry: RetryPlan | undefined }>;
  options: ReconnectOptions;
}

function recorder(options: ReconnectOptions = {}): Recorder {
  const connects = new EventLog<ReverseTunnel>();
  const disconnects = new EventLog<{ result: ServeResult; retry: RetryPlan | undefined }>();
  return {
    connects,
    disconnects,
    options: {
      ...options,
      onConnect: (t) => connects.push(t),
      onDisconnect: (result, retry) => {
        disconnects.push({ result, retry });
        options.onDisconnect?.(result, retry);
      },
    },
  };
}

/** A loopback port nothing listens on (a server was there a moment ago). */
async function deadPort(): Promise<number> {
  const server = await startServer(() => {});
  server.kill();
  return server.port;
}

describe("reverse tunnel keep-alive (reconnect)", () => {
  it("reconnects after the network server restarts, and the key is routable again", async () => {
    const hub1 = await startHub(cleanup);
    const rec = recorder({ initialBackoffMs: 20, maxBackoffMs: 100 });
    const agent = await connectAgent(cleanup, hub1, { name: "a1", key: "A", clientOptions: fastRedial, serve: { reconnect: rec.options } });
    expect(servedBy(await unaryCall(hub1.handler.keyAsChannel("A"), TestService.method.unary, {}))).toBe("a1");
    expect(rec.connects.items).toHaveLength(1);

    hub1.server.kill();
    const [drop] = await rec.disconnects.waitForCount(1);
    expect(drop.result.started).toBe(true);
    expect(drop.result.error).toBeDefined();
    expect(drop.retry?.delayMs).toBeGreaterThan(0);
    // Attempts while the server is down fail and are retried.
    const failed = await rec.disconnects.waitForCount(2, (d) => !d.result.started);
    expect(failed.every((d) => d.result.error?.code === Code.UNAVAILABLE)).toBe(true);

    const hub2 = await startHub(cleanup, { port: hub1.port });
    await hub2.handler.keyAsChannel("A").waitForReady({ signal: AbortSignal.timeout(15_000) });
    expect(servedBy(await unaryCall(hub2.handler.keyAsChannel("A"), TestService.method.unary, {}))).toBe("a1");
    expect(rec.connects.items).toHaveLength(2);
    expect(agent.rts.activeTunnels).toBe(1);

    const before = rec.disconnects.items.length;
    agent.controller.abort();
    const stopped = await timed(agent.serving);
    expect(stopped.ms).toBeLessThan(1_000);
    expect(stopped.result).toMatchObject({ ok: true, value: { started: true, error: { code: Code.CANCELLED } } });
    expect(rec.disconnects.items.slice(before)).toMatchObject([{ result: { started: true }, retry: undefined }]);
    await hub2.closedTunnelOf("a1");
    expect([hub2.opened.items.length, hub2.closed.items.length]).toEqual([1, 1]);
  });

  it("re-opens a tunnel the network server closed, with one open/close callback each", async () => {
    const hub = await startHub(cleanup);
    const rec = recorder({ initialBackoffMs: 5 });
    const agent = startAgent(cleanup, hub.address, { name: "a1", serve: { reconnect: rec.options } });
    const first = await hub.opened.waitFor();
    first.close();
    const [drop] = await rec.disconnects.waitForCount(1);
    expect(drop.result).toEqual({ started: true, error: undefined });
    const [, second] = await hub.opened.waitForCount(2);
    expect(second).not.toBe(first);
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}))).toBe("a1");
    agent.rts.stop();
    expect(await agent.serving).toEqual({ started: true, error: undefined });
    await hub.closed.waitForCount(2);
    expect(hub.opened.items).toHaveLength(2);
    expect(hub.closed.items).toEqual(hub.opened.items);
    expect(rec.connects.items).toHaveLength(2);
  });

  it("backs off exponentially up to the cap, and a healthy tunnel resets the backoff", async () => {
    const port = await deadPort();
    const rec = recorder({ initialBackoffMs: 10, multiplier: 2, maxBackoffMs: 40, jitter: 0, healthyAfterMs: 0 });
    const agent = startAgent(cleanup, `127.0.0.1:${port}`, { name: "a1", clientOptions: fastRedial, serve: { reconnect: rec.options } });
    const failures = await rec.disconnects.waitForCount(5);
    expect(failures.map((d) => d.result.started)).toEqual([false, false, false, false, false]);
    expect(failures.map((d) => d.retry)).toEqual([
      { delayMs: 10, consecutiveFailures: 1 },
      { delayMs: 20, consecutiveFailures: 2 },
      { delayMs: 40, consecutiveFailures: 3 },
      { delayMs: 40, consecutiveFailures: 4 },
      { delayMs: 40, consecutiveFailures: 5 },
    ]);

    const hub = await startHub(cleanup, { port });
    await hub.tunnelOf("a1");
    hub.server.kill();
    const drop = await rec.disconnects.waitFor((d) => d.result.started);
    expect(drop.retry).toEqual({ delayMs: 10, consecutiveFailures: 0 });
    agent.controller.abort();
    await agent.serving;
  });

  it("a tunnel that the server drops at once counts as a failed attempt (no tight loop)", async () => {
    const arrived = new EventLog<number>();
    const server = await startServer((s) =>
      s.addService(tunnelServiceDefinition, {
        openTunnel: () => {},
        openReverseTunnel: (call: grpc.ServerDuplexStream<unknown, unknown>) => {
          arrived.push(performance.now());
          call.sendMetadata(new grpc.Metadata());
          call.emit("error", { code: Code.PERMISSION_DENIED, details: "go away" });
        },
      }),
    );
    cleanup.add(() => server.kill());
    const rec = recorder({ initialBackoffMs: 10, multiplier: 2, maxBackoffMs: 1_000, jitter: 0 });
    const agent = startAgent(cleanup, server.address, { name: "a1", serve: { reconnect: rec.options } });
    const drops = await rec.disconnects.waitForCount(4);
    agent.controller.abort();
    expect(drops.map((d) => [d.result.started, d.result.error?.code])).toEqual(Array(4).fill([true, Code.PERMISSION_DENIED]));
    expect(drops.map((d) => d.retry?.delayMs)).toEqual([10, 20, 40, 80]);
    expect(rec.connects.items).toHaveLength(4);
    const [t1, , , t4] = arrived.items;
    expect(t4 - t1).toBeGreaterThanOrEqual(10 + 20 + 40 - 5);
  });

  it("aborting the signal or stopping the server during a backoff wait ends serve promptly", async () => {
    const port = await deadPort();
    const agents: Agent[] = [];
    const recs: Recorder[] = [];
    for (const name of ["by-signal", "by-stop"]) {
      const rec = recorder({ initialBackoffMs: 60_000 });
      recs.push(rec);
      agents.push(startAgent(cleanup, `127.0.0.1:${port}`, { name, serve: { reconnect: rec.options } }));
    }
    await Promise.all(recs.map((rec) => rec.disconnects.waitForCount(1)));
    expect(recs[0].disconnects.items[0].retry?.delayMs).toBeGreaterThanOrEqual(48_000);

    agents[0].controller.abort();
    agents[1].rts.stop();
    for (const [i, agent] of agents.entries()) {
      const ended = await timed(agent.serving);
      expect(ended.ms).toBeLessThan(1_000);
      expect(ended.result).toMatchObject({ ok: true, value: { started: false, error: { code: Code.UNAVAILABLE } } });
      expect(recs[i].disconnects.items).toHaveLength(1);
    }
  });

  it("aborting from onDisconnect gives up without another attempt", async () => {
    const hub = await startHub(cleanup, { noReverseTunnels: true });
    let agent: Agent | undefined;
    const rec = recorder({
      initialBackoffMs: 0,
      onDisconnect: (result) => {
        if (result.error?.code === Code.UNIMPLEMENTED) {
          agent?.controller.abort();
        }
      },
    });
    agent = startAgent(cleanup, hub.address, { name: "a1", serve: { reconnect: rec.options } });
    expect(await agent.serving).toMatchObject({ started: false, error: { code: Code.UNIMPLEMENTED } });
    expect(rec.disconnects.items).toHaveLength(1);
    expect(rec.connects.items).toHaveLength(0);
  });

  it("gracefulStop ends the loop after the running call finished, without reconnecting", async () => {
    const gate = new Gate();
    const hub = await startHub(cleanup);
    const rec = recorder({ initialBackoffMs: 0 });
    const agent = await connectAgent(cleanup, hub, {
      name: "a1",
      impl: { serverStream: gate.serverStream },
      serve: { reconnect: rec.options },
    });
    const running = (async () => {
      const counts: number[] = [];
      for await (const res of serverStreamCall(hub.handler.keyAsChannel("a1"), TestService.method.serverStream, { count: 3 })) {
        counts.push(res.count);
      }
      return counts;
    })();
    await gate.entered.promise;
    const stopping = agent.rts.gracefulStop();
    gate.release();
    expect(await running).toEqual([0, 1, 2]);
    await stopping;
    expect(await agent.serving).toEqual({ started: true, error: undefined });
    expect(rec.disconnects.items).toEqual([{ result: { started: true, error: undefined }, retry: undefined }]);
    expect(rec.connects.items).toHaveLength(1);
    await hub.closedTunnelOf("a1");
    expect(hub.opened.items).toHaveLength(1);
  });

  it("makes one attempt and reports why when the signal was already aborted or the server stopped", async () => {
    const hub = await startHub(cleanup);
    const rec = recorder();
    const agent = startAgent(cleanup, hub.address, { name: "a1", manual: true });
    const aborted = await agent.rts.serve({ signal: AbortSignal.abort(), reconnect: rec.options });
    expect(aborted).toMatchObject({ started: false, error: { code: Code.CANCELLED } });
    agent.rts.stop();
    const stopped = await agent.rts.serve({ reconnect: rec.options });
    expect(stopped).toMatchObject({ started: false, error: { code: Code.UNAVAILABLE, rawMessage: "reverse tunnel server is stopped" } });
    expect(rec.disconnects.items.map((d) => d.retry)).toEqual([undefined, undefined]);
    expect(hub.opened.items).toEqual([]);
  });

  it("callbacks that throw are reported as warnings and do not break the loop or the tunnel", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    cleanup.add(() => process.off("warning", onWarning));
    const hub = await startHub(cleanup);
    const rec = recorder({
      initialBackoffMs: 0,
      onDisconnect: () => {
        throw new Error("onDisconnect bug");
      },
    });
    const options: ReconnectOptions = {
      ...rec.options,
      onConnect: (t) => {
        rec.options.onConnect?.(t);
        throw new Error("onConnect bug");
      },
    };
    const agent = startAgent(cleanup, hub.address, { name: "a1", serve: { reconnect: options } });
    const first = await hub.tunnelOf("a1");
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}))).toBe("a1");
    first.close();
    await hub.opened.waitForCount(2);
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}))).toBe("a1");
    agent.controller.abort();
    expect(await agent.serving).toMatchObject({ started: true, error: { code: Code.CANCELLED } });
    await settle();
    expect(warnings.filter((w) => w.includes("onConnect bug"))).toHaveLength(2);
    expect(warnings.filter((w) => w.includes("onDisconnect bug"))).toHaveLength(2);
  });

  it("rejects nonsensical backoff options", async () => {
    const hub = await startHub(cleanup);
    const agent = startAgent(cleanup, hub.address, { name: "a1", manual: true });
    for (const bad of [
      { multiplier: 0.5 },
      { jitter: 1.5 },
      { initialBackoffMs: -1 },
      { initialBackoffMs: 100, maxBackoffMs: 10 },
      { healthyAfterMs: NaN },
    ]) {
      expect(() => agent.rts.serve({ reconnect: bad })).toThrow(RangeError);
    }
    expect(hub.opened.items).toEqual([]);
  });

  it("jitter spreads each delay uniformly within ±jitter", () => {
    expect(jittered(100, 0.2, () => 0)).toBeCloseTo(80);
    expect(jittered(100, 0.2, () => 0.5)).toBeCloseTo(100);
    expect(jittered(100, 0.2, () => 0.999_999)).toBeCloseTo(120, 3);
    expect(jittered(100, 0, () => 0.1)).toBe(100);
    expect(jittered(100, 1, () => 0)).toBe(0);
    const samples = Array.from({ length: 1_000 }, () => jittered(1_000, 0.5));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(500);
    expect(Math.max(...samples)).toBeLessThanOrEqual(1_500);
    expect(new Set(samples.map((s) => Math.floor(s / 100))).size).toBeGreaterThanOrEqual(8);
  });
});

describe("backoff delays", () => {
  it("are whole milliseconds", () => {
    for (let i = 0; i < 1_000; i++) {
      expect(Number.isInteger(jittered(100 + i / 7, 0.2))).toBe(true);
    }
    expect(jittered(10.4, 0, () => 0.5)).toBe(10);
  });
});
