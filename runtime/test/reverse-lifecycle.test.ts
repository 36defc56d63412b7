// ReverseTunnelServer lifecycle: what serve() reports, several tunnels at
// once, graceful and immediate stop, and the agent's view of its tunnel.
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import {
  Code,
  ReverseTunnelServer,
  type HandlerContext,
  type TunnelChannel,
  bidiStreamCall,
  clientStreamCall,
  serverStreamCall,
  unaryCall,
} from "../src/index.js";
import { NOT_STARTED_WARNING } from "../src/protocol.js";
import { NEGOTIATE_HEADER, tunnelServiceDefinition, type ReverseTunnel } from "../src/protocol.js";
import { EventLog, outcome, settle, timed } from "./support/events.js";
import { deferred } from "../src/deferred.js";
import { agentName, connectAgent, drain, Gate, servedBy, startAgent, startHub } from "./support/reverse.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A server whose OpenReverseTunnel does what `handle` says (e.g. nothing at all). */
async function rawServer(handle: (call: grpc.ServerDuplexStream<unknown, unknown>) => void) {
  const server = await startServer((s) => s.addService(tunnelServiceDefinition, { openTunnel: () => {}, openReverseTunnel: handle }));
  cleanup.add(() => server.kill());
  return server;
}

/** A bidi request stream that sends one request, then waits for `until`. */
async function* oneThenWait(until: Promise<void>) {
  yield { payload: new Uint8Array([1]) };
  await until;
}

describe("ReverseTunnelServer.serve results", () => {
  it("started=false with the reason when the tunnel cannot be opened", async () => {
    const gone = await startServer(() => {});
    gone.kill();
    const unreachable = startAgent(cleanup, gone.address, { name: "x" });
    const result = await unreachable.serving;
    expect(result.started).toBe(false);
    expect(result.error?.code).toBe(Code.UNAVAILABLE);

    const hub = await startHub(cleanup);
    const client = tunnelClient(hub.address);
    cleanup.add(() => client.close());
    const preAborted = new ReverseTunnelServer(client);
    cleanup.add(() => preAborted.stop());
    const aborted = await preAborted.serve({ signal: AbortSignal.abort() });
    expect(aborted).toMatchObject({ started: false, error: { code: Code.CANCELLED } });

    client.close();
    const closed = await preAborted.serve();
    expect(closed).toMatchObject({ started: false, error: { code: Code.UNAVAILABLE } });
    expect(hub.opened.items).toEqual([]);
  });

  it("an open that hangs ends promptly on abort, and on stop()", async () => {
    const arrived: Array<grpc.ServerDuplexStream<unknown, unknown>> = [];
    const server = await rawServer((call) => arrived.push(call)); // never answers
    const agent = startAgent(cleanup, server.address, { name: "x" });
    const second = agent.rts.serve({ metadata: { n: "2" } });
    const third = agent.rts.serve({ metadata: { n: "3" } });
    expect(agent.rts.activeTunnels).toBe(0);

    agent.controller.abort();
    const aborted = await timed(agent.serving);
    expect(aborted.ms).toBeLessThan(1_000);
    expect(aborted.result).toMatchObject({ ok: true, value: { started: false, error: { code: Code.CANCELLED } } });

    agent.rts.stop();
    const stopped = await timed(Promise.all([second, third]));
    expect(stopped.ms).toBeLessThan(1_000);
    expect(stopped.result).toMatchObject({
      ok: true,
      value: [
        { started: false, error: { code: Code.UNAVAILABLE, rawMessage: "reverse tunnel server is stopped" } },
        { started: false, error: { code: Code.UNAVAILABLE, rawMessage: "reverse tunnel server is stopped" } },
      ],
    });
    expect(await agent.rts.serve()).toMatchObject({ started: false, error: { code: Code.UNAVAILABLE } });
  });

  it("error is undefined when the network server hangs up cleanly", async () => {
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a1" });
    agent.tunnel.close();
    expect(await agent.serving).toEqual({ started: true, error: undefined });

    // A legacy-looking server that answers and ends the RPC with OK at once.
    const server = await rawServer((call) => {
      call.sendMetadata(new grpc.Metadata());
      call.end();
    });
    const other = startAgent(cleanup, server.address, { name: "a2" });
    expect(await other.serving).toEqual({ started: true, error: undefined });
  });

  it("error reports a tunnel that broke: server gone, or aborted by the agent", async () => {
    const hub = await startHub(cleanup);
    const a1 = await connectAgent(cleanup, hub, { name: "a1" });
    const a2 = await connectAgent(cleanup, hub, { name: "a2" });
    a2.controller.abort();
    expect(await a2.serving).toMatchObject({ started: true, error: { code: Code.CANCELLED } });
    await hub.closedTunnelOf("a2");
    hub.server.kill();
    const broken = await a1.serving;
    expect(broken.started).toBe(true);
    expect([Code.UNAVAILABLE, Code.CANCELLED, Code.INTERNAL]).toContain(broken.error?.code);
  });

  it("runs several tunnels from one ReverseTunnelServer at once", async () => {
    const hub = await startHub(cleanup);
    const agent = startAgent(cleanup, hub.address, { name: "multi", manual: true });
    const servings = [1, 2, 3].map(() => agent.rts.serve(agent.serveOptions));
    const tunnels = await hub.opened.waitForCount(3);
    expect(agent.rts.activeTunnels).toBe(3);
    const carriers = new Set<TunnelChannel>();
    for (let i = 0; i < 6; i++) {
      await unaryCall(hub.handler.keyAsChannel("multi"), TestService.method.unary, {}, { onTunnel: (t) => carriers.add(t) });
    }
    expect(carriers).toEqual(new Set(tunnels));
    agent.rts.stop();
    expect(await Promise.all(servings)).toEqual(Array(3).fill({ started: true, error: undefined }));
    expect(agent.rts.activeTunnels).toBe(0);
    await hub.closed.waitForCount(3);
  });
});

describe("the agent's view of its reverse tunnels", () => {
  it("onOpen reports each tunnel: negotiation, revision, calls, and can close it", async () => {
    const hub = await startHub(cleanup);
    const opened: ReverseTunnel[] = [];
    const gate = new Gate();
    const agent = await connectAgent(cleanup, hub, {
      name: "a1",
      serve: { onOpen: (t) => opened.push(t) },
      impl: { serverStream: gate.serverStream },
    });
    expect(opened).toHaveLength(1);
    const [tunnel] = opened;
    expect(tunnel.negotiated).toBe(true);
    expect(tunnel.offeredRevisions).toEqual([0, 1]);
    expect(tunnel.responseHeaders.get(NEGOTIATE_HEADER)).toEqual(["on"]);
    expect(tunnel.metadata.get("agent-name")).toEqual(["a1"]);
    expect(tunnel.peer).toContain(String(hub.port));
    expect(tunnel.protocolRevision).toBeUndefined();
    expect([tunnel.activeCalls, tunnel.closed]).toEqual([0, false]);

    const running = drain(serverStreamCall(hub.handler.keyAsChannel("a1"), TestService.method.serverStream, { count: 2 }));
    await gate.entered.promise;
    expect(tunnel.activeCalls).toBe(1);
    expect(tunnel.protocolRevision).toBe(1);
    gate.release();
    expect((await running).map((r) => r.count)).toEqual([0, 1]);
    expect(tunnel.activeCalls).toBe(0);

    tunnel.close();
    expect(tunnel.closed).toBe(true);
    expect(await tunnel.done).toEqual({ started: true, error: undefined });
    expect(await agent.serving).toEqual({ started: true, error: undefined });
    expect(agentName(await hub.closedTunnelOf("a1"))).toBe("a1");
  });

  it("a throwing onOpen callback is reported as a warning and does not break the tunnel", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    cleanup.add(() => process.off("warning", onWarning));
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, {
      name: "a1",
      serve: {
        onOpen: () => {
          throw new Error("onOpen bug");
        },
      },
    });
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}))).toBe("a1");
    await settle();
    expect(warnings.filter((w) => w.includes("onOpen bug"))).toHaveLength(1);
  });
});

describe("ReverseTunnelServer stop", () => {
  it("gracefulStop lets a running streaming call finish while a new call gets UNAVAILABLE", async () => {
    const gate = new Gate();
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a1", impl: { serverStream: gate.serverStream } });
    const ch = hub.handler.keyAsChannel("a1");
    const running = drain(serverStreamCall(ch, TestService.method.serverStream, { count: 5, payload: new Uint8Array([9]) }));
    await gate.entered.promise;

    let drained = false;
    const stopping = agent.rts.gracefulStop().then(() => (drained = true));
    const refused = await outcome(unaryCall(ch, TestService.method.unary, {}));
    expect(refused.ok || refused.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "server is shutting down" });
    const refusedStream = await outcome(drain(serverStreamCall(ch, TestService.method.serverStream, { count: 1 })));
    expect(refusedStream.ok || refusedStream.error).toMatchObject({ code: Code.UNAVAILABLE });
    expect(drained).toBe(false);
    expect(agent.tunnel.closed).toBe(false);
    expect(await agent.rts.serve()).toMatchObject({ started: false, error: { code: Code.UNAVAILABLE } });

    gate.release();
    const responses = await running;
    expect(responses.map((r) => r.count)).toEqual([0, 1, 2, 3, 4]);
    await stopping;
    expect(gate.wasAborted).toBe(false);
    expect(await agent.serving).toEqual({ started: true, error: undefined });
    await hub.closedTunnelOf("a1");
    expect(ch.ready()).toBe(false);
  });

  it("stop() fails running calls of every kind on the server side promptly", async () => {
    const entered = new EventLog<string>();
    const aborted = new EventLog<unknown>();
    // Every handler starts (reads a request / sends a response) and then blocks until cancelled.
    const block = (ctx: HandlerContext) => {
      entered.push(ctx.method);
      return new Promise<never>((_, reject) =>
        ctx.signal.addEventListener("abort", () => {
          aborted.push(ctx.signal.reason);
          reject(ctx.signal.reason);
        }),
      );
    };
    const hub = await startHub(cleanup);
    const agent = startAgent(cleanup, hub.address, {
      name: "a1",
      manual: true,
      impl: {
        unary: (_req, ctx) => block(ctx),
        clientStream: async (requests, ctx) => {
          for await (const _ of requests) {
            return block(ctx);
          }
          return {};
        },
        async *serverStream(_req, ctx) {
          yield { count: 1 };
          await block(ctx);
        },
        async *bidiStream(requests, ctx) {
          for await (const _ of requests) {
            yield { count: 1 };
            await block(ctx);
          }
        },
      },
    });
    const servings = [0, 1].map((i) => agent.rts.serve({ metadata: { "agent-key": "a1", "agent-name": `a1-${i}` } }));
    const tunnels = await Promise.all([hub.tunnelOf("a1-0"), hub.tunnelOf("a1-1")]);
    const never = deferred<void>();
    const calls = tunnels.flatMap((tunnel) => [
      outcome(unaryCall(tunnel, TestService.method.unary, {})),
      outcome(clientStreamCall(tunnel, TestService.method.clientStream, oneThenWait(never.promise))),
      outcome(drain(serverStreamCall(tunnel, TestService.method.serverStream, {}))),
      outcome(drain(bidiStreamCall(tunnel, TestService.method.bidiStream, oneThenWait(never.promise)))),
    ]);
    await entered.waitForCount(8);
    expect(tunnels.map((t) => t.activeCalls)).toEqual([4, 4]);

    const start = performance.now();
    agent.rts.stop();
    const results = await Promise.all(calls);
    expect(performance.now() - start).toBeLessThan(1_000);
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(r.ok || r.error).toMatchObject({ code: Code.UNAVAILABLE });
    }
    const reasons = await aborted.waitForCount(8);
    expect(reasons.every((r) => (r as { code?: number }).code === Code.CANCELLED)).toBe(true);
    expect(await Promise.all(servings)).toEqual([
      { started: true, error: undefined },
      { started: true, error: undefined },
    ]);
    expect(tunnels.every((t) => t.closed)).toBe(true);
    expect(hub.handler.allReverseTunnels()).toEqual([]);
    expect(agent.rts.activeTunnels).toBe(0);
  });
});

describe("failures are visible", () => {
  /** Collects process warnings with our not-started code while a test runs. */
  function notStartedWarnings(): Error[] {
    const seen: Error[] = [];
    const onWarning = (w: Error & { code?: string }) => {
      if (w.code === NOT_STARTED_WARNING) {
        seen.push(w);
      }
    };
    process.on("warning", onWarning);
    cleanup.add(() => process.off("warning", onWarning));
    return seen;
  }

  it("serve() without reconnect that cannot open its tunnel emits one process warning naming the cause", async () => {
    const warnings = notStartedWarnings();
    const gone = await startServer(() => {});
    gone.kill();
    const unreachable = startAgent(cleanup, gone.address, { name: "x" });
    expect(await unreachable.serving).toMatchObject({ started: false, error: { code: Code.UNAVAILABLE } });
    const refusing = await startHub(cleanup, { noReverseTunnels: true });
    const refused = startAgent(cleanup, refusing.address, { name: "y" });
    expect(await refused.serving).toMatchObject({ started: false, error: { code: Code.UNIMPLEMENTED } });
    await settle();
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/^grpctunnel: reverse tunnel could not be opened: UNAVAILABLE: /),
      "grpctunnel: reverse tunnel could not be opened: UNIMPLEMENTED: reverse tunnels not supported",
    ]);
  });

  it("no warning when the caller ended it (aborted signal, stopped server), nor in reconnect mode, where onDisconnect reports", async () => {
    const warnings = notStartedWarnings();
    const hub = await startHub(cleanup, { noReverseTunnels: true });
    const agent = startAgent(cleanup, hub.address, { name: "a1", manual: true });
    expect(await agent.rts.serve({ signal: AbortSignal.abort() })).toMatchObject({ started: false });
    const reports: boolean[] = [];
    const controller = new AbortController();
    const looping = agent.rts.serve({
      signal: controller.signal,
      reconnect: {
        initialBackoffMs: 0,
        onDisconnect: (result) => {
          reports.push(result.started);
          controller.abort();
        },
      },
    });
    expect(await looping).toMatchObject({ started: false, error: { code: Code.UNIMPLEMENTED } });
    expect(reports).toEqual([false]);
    agent.rts.stop();
    expect(await agent.rts.serve()).toMatchObject({ started: false });
    await settle();
    expect(warnings).toEqual([]);
  });

  it("gracefulStop({ graceMs }) cancels the calls still running when the grace period is over", async () => {
    const entered = deferred<HandlerContext>();
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, {
      name: "a1",
      impl: {
        unary: (_req, ctx) => {
          entered.resolve(ctx);
          return new Promise<never>((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
        },
      },
    });
    const call = outcome(unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}));
    const ctx = await entered.promise;
    const stopped = await timed(agent.rts.gracefulStop({ graceMs: 200 }));
    expect(stopped.ms).toBeGreaterThanOrEqual(180);
    expect(stopped.ms).toBeLessThan(1_500);
    expect(ctx.signal.aborted).toBe(true);
    expect(await call).toMatchObject({ ok: false, error: { code: Code.UNAVAILABLE } });
    expect(await agent.serving).toEqual({ started: true, error: undefined });
  });
});
