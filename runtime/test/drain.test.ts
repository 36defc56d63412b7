// TunnelServiceHandler.drain: a graceful shutdown that completes. New
// tunnels and calls are refused, running calls finish, every tunnel ends so
// that grpc.Server.tryShutdown completes, and agents reconnect elsewhere.
import type * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code, type HandlerContext, openTunnel, serverStreamCall, unaryCall } from "../src/index.js";
import type { ServeResult } from "../src/protocol.js";
import type { RetryPlan } from "../src/protocol.js";
import { EventLog, outcome } from "./support/events.js";
import { Gate, RecordingRegistry, connectAgent, drain, servedBy, startAgent, startHub, type Hub } from "./support/reverse.js";
import { Cleanup, tunnelClient } from "./support/servers.js";
import { TcpProxy } from "./support/tcp-proxy.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Short grpc-js connection backoff, so that an agent redials quickly. */
const fastRedial: grpc.ClientOptions = { "grpc.initial_reconnect_backoff_ms": 50, "grpc.max_reconnect_backoff_ms": 200 };

/** `grpc.Server.tryShutdown`, resolving with the ms it took from now. */
function tryShutdown(hub: Pick<Hub<string>, "server">): Promise<number> {
  const start = performance.now();
  return new Promise((resolve) => hub.server.server.tryShutdown(() => resolve(performance.now() - start)));
}

/** A unary handler that waits until its call is cancelled, reporting that it ran and why it ended. */
function parkUntilCancelled() {
  const entered = new EventLog<HandlerContext>();
  const aborted = new EventLog<unknown>();
  const unary = (_req: unknown, ctx: HandlerContext) => {
    entered.push(ctx);
    return new Promise<never>((_, reject) =>
      ctx.signal.addEventListener("abort", () => {
        aborted.push(ctx.signal.reason);
        reject(ctx.signal.reason);
      }),
    );
  };
  return { entered, aborted, unary };
}

/** A hub serving TestService over forward tunnels too (with `impl` replacing methods), and one forward tunnel to it. */
async function hubWithForwardTunnel(impl: Partial<typeof testServiceImpl>, options: { registry?: RecordingRegistry<string> } = {}) {
  const hub = await startHub(cleanup, options);
  hub.handler.registerService(TestService, { ...testServiceImpl, ...impl });
  const client = tunnelClient(hub.address);
  cleanup.add(() => client.close());
  const tunnel = await openTunnel(client);
  cleanup.add(() => tunnel.close());
  return { hub, client, tunnel };
}

describe("TunnelServiceHandler.drain", () => {
  it("running forward and reverse calls finish OK, every tunnel ends cleanly and tryShutdown completes within graceMs + 1 s", async () => {
    const graceMs = 3_000;
    const forwardGate = new Gate();
    const registry = new RecordingRegistry<string>();
    const { hub, tunnel } = await hubWithForwardTunnel({ serverStream: forwardGate.serverStream }, { registry });
    const forwardCall = drain(serverStreamCall(tunnel, TestService.method.serverStream, { count: 3 }));
    await forwardGate.entered.promise;

    // The agent dials through a balancer, and reconnects whenever its tunnel ends.
    const balancer = await TcpProxy.start(hub.port);
    cleanup.add(() => balancer.close());
    const agentGate = new Gate();
    const disconnects = new EventLog<{ result: ServeResult; retry: RetryPlan | undefined }>();
    startAgent(cleanup, balancer.address, {
      name: "a1",
      clientOptions: fastRedial,
      impl: { serverStream: agentGate.serverStream },
      serve: {
        reconnect: { initialBackoffMs: 20, maxBackoffMs: 200, onDisconnect: (result, retry) => disconnects.push({ result, retry }) },
      },
    });
    const agentTunnel = await hub.tunnelOf("a1");
    const reverseCall = drain(serverStreamCall(hub.handler.keyAsChannel("a1"), TestService.method.serverStream, { count: 3 }));
    await agentGate.entered.promise;

    // The rolling-deploy recipe.
    const stopped = tryShutdown(hub);
    const drained = hub.handler.drain({ graceMs });

    // New work is refused; the agent's tunnel is not picked, and callers waiting for it keep waiting.
    await expect(unaryCall(tunnel, TestService.method.unary, {})).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: "server is shutting down",
    });
    expect(agentTunnel.draining).toBe(true);
    expect(registry.drained).toEqual([agentTunnel]);
    const keyChannel = hub.handler.keyAsChannel("a1");
    expect(keyChannel.ready()).toBe(false);
    const waitAbort = new AbortController();
    let waiterSettled = false;
    const waiter = outcome(keyChannel.waitForReady({ signal: waitAbort.signal }).finally(() => (waiterSettled = true)));

    forwardGate.release();
    agentGate.release();
    expect((await forwardCall).map((r) => r.count)).toEqual([0, 1, 2]);
    expect((await reverseCall).map((r) => r.count)).toEqual([0, 1, 2]);
    await drained;
    expect(await stopped).toBeLessThan(graceMs + 1_000);
    expect(await tunnel.done).toEqual({ error: undefined });
    expect(hub.handler.allReverseTunnels()).toEqual([]);
    expect(forwardGate.wasAborted || agentGate.wasAborted).toBe(false);

    // The agent saw a clean end and reconnects through the balancer, now sending it to another replica.
    const [first] = await disconnects.waitForCount(1);
    expect(first.result).toEqual({ started: true, error: undefined });
    const hub2 = await startHub(cleanup);
    balancer.retarget(hub2.port);
    await hub2.tunnelOf("a1");
    expect(servedBy(await unaryCall(hub2.handler.keyAsChannel("a1"), TestService.method.unary, {}))).toBe("a1");

    // The old replica's waiter never saw a usable tunnel again.
    expect(waiterSettled).toBe(false);
    waitAbort.abort();
    expect(await waiter).toMatchObject({ ok: false, error: { code: Code.CANCELLED } });
  });

  it("after graceMs the calls still running are cancelled and tryShutdown still completes", async () => {
    const graceMs = 500;
    const forward = parkUntilCancelled();
    const { hub, tunnel } = await hubWithForwardTunnel({ unary: forward.unary });
    const agentSide = parkUntilCancelled();
    await connectAgent(cleanup, hub, { name: "a1", impl: { unary: agentSide.unary } });
    const forwardCall = outcome(unaryCall(tunnel, TestService.method.unary, {}));
    const reverseCall = outcome(unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}));
    await Promise.all([forward.entered.waitFor(), agentSide.entered.waitFor()]);

    const stopped = tryShutdown(hub);
    const start = performance.now();
    await hub.handler.drain({ graceMs });
    expect(performance.now() - start).toBeGreaterThanOrEqual(graceMs - 20); // timers may fire a little early
    expect(await stopped).toBeLessThan(graceMs + 1_000);
    const over = { code: Code.UNAVAILABLE, rawMessage: expect.stringContaining("server is shutting down") };
    expect(await forwardCall).toMatchObject({ ok: false, error: over });
    expect(await reverseCall).toMatchObject({ ok: false, error: over });
    expect(await tunnel.done).toMatchObject({ error: over });
    // Both handlers' signals fired.
    await forward.aborted.waitFor();
    await agentSide.aborted.waitFor();
  });

  it("refuses new tunnels and calls at once, keeps reverse tunnels out of rotation, and returns one promise", async () => {
    const gate = new Gate();
    const hub = await startHub(cleanup);
    hub.handler.registerService(TestService, testServiceImpl);
    const a1 = await connectAgent(cleanup, hub, { name: "a1", impl: { serverStream: gate.serverStream } });
    const running = drain(serverStreamCall(a1.tunnel, TestService.method.serverStream, { count: 2 }));
    await gate.entered.promise;

    const drained = hub.handler.drain({ graceMs: 10_000 });
    expect(hub.handler.drain()).toBe(drained);
    let finished = false;
    void drained.then(() => (finished = true));

    const late = startAgent(cleanup, hub.address, { name: "a2" });
    expect(await late.serving).toMatchObject({ started: false, error: { code: Code.UNAVAILABLE, rawMessage: "server is shutting down" } });
    const client = tunnelClient(hub.address);
    cleanup.add(() => client.close());
    await expect(openTunnel(client)).rejects.toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "server is shutting down" });

    expect(hub.handler.allReverseTunnels()).toEqual([a1.tunnel]);
    expect(a1.tunnel.draining).toBe(true);
    expect(() => a1.tunnel.startCall("/grpchantesting.TestService/Unary")).toThrow(
      expect.objectContaining({ code: Code.UNAVAILABLE, rawMessage: "server is shutting down" }),
    );
    await expect(unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {})).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
    });
    expect(finished).toBe(false);

    gate.release();
    expect(await running).toHaveLength(2);
    await drained;
    expect(await a1.serving).toEqual({ started: true, error: undefined });
    expect(hub.handler.allReverseTunnels()).toEqual([]);
  });

  it("a reverse tunnel that finishes negotiating after the shutdown began is closed cleanly, never registered or routed to", async () => {
    let hub: Hub<string> | undefined;
    hub = await startHub(cleanup, {
      // Runs as the handler takes the RPC, before it read the agent's Settings frame.
      onReverseTunnelRpc: () => hub?.handler.initiateShutdown(),
    });
    const late = startAgent(cleanup, hub.address, { name: "late" });
    const registered = hub.opened.waitFor().then(() => "registered" as const);
    expect(await Promise.race([late.serving, registered])).toEqual({ started: true, error: undefined });
    expect(hub.opened.items).toEqual([]);
    expect(hub.handler.allReverseTunnels()).toEqual([]);
    expect(hub.handler.listTunnels()).toEqual([]);
    await expect(unaryCall(hub.handler.keyAsChannel("late"), TestService.method.unary, {})).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
    });
    await hub.handler.drain({ graceMs: 60_000 });
  });

  it("resolves at once with no tunnel open, and rejects a nonsensical grace period, naming it", async () => {
    const hub = await startHub(cleanup);
    expect(() => hub.handler.drain({ graceMs: -1 })).toThrow(new RangeError("graceMs must be a finite number >= 0 (got -1)"));
    expect(() => hub.handler.drain({ graceMs: Number.NaN })).toThrow(RangeError);
    await hub.handler.drain({ graceMs: 60_000 });
    expect(await tryShutdown(hub)).toBeLessThan(1_000);
    // No grace at all is a grace period too.
    await (await startHub(cleanup)).handler.drain({ graceMs: 0 });
  });
});
