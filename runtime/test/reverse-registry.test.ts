// The handler's reverse-tunnel registry: open/close callbacks, affinity keys
// from metadata/peer/auth, readiness, waiting, and refusing reverse tunnels.
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, TunnelError, type TunnelChannel, unaryCall } from "../src/index.js";
import { outcome, settle } from "./support/events.js";
import { agentName, connectAgent, servedBy, startAgent, startHub, type Hub } from "./support/reverse.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("reverse tunnel registry", () => {
  it("fires open and close once per tunnel, computes the key once, and drops a tunnel the moment it ends", async () => {
    const snapshots: Array<{ name: string; listed: string[]; keyReady: boolean; allReady: boolean }> = [];
    const hub: Hub<string> = await startHub(cleanup, {
      onReverseTunnelClose: (t) =>
        snapshots.push({
          name: agentName(t),
          listed: hub.handler.allReverseTunnels().map(agentName).sort(),
          keyReady: hub.handler.keyAsChannel(String(t.metadata.get("agent-key")[0])).ready(),
          allReady: hub.handler.asChannel().ready(),
        }),
    });
    const agents = [
      await connectAgent(cleanup, hub, { name: "a1", key: "A" }),
      await connectAgent(cleanup, hub, { name: "a2", key: "A" }),
      await connectAgent(cleanup, hub, { name: "b1", key: "B" }),
    ];
    expect(hub.handler.allReverseTunnels()).toEqual(agents.map((a) => a.tunnel));
    for (const tunnel of hub.handler.allReverseTunnels()) {
      expect(tunnel.direction).toBe("reverse");
      expect(tunnel.peer).toMatch(/^(ipv4:)?127\.0\.0\.1:\d+$/);
      expect(tunnel.closed).toBe(false);
    }
    for (let i = 0; i < 10; i++) {
      await unaryCall(hub.handler.asChannel(), TestService.method.unary, {});
    }
    expect(hub.keyCalls()).toBe(3);

    agents[2].rts.stop();
    agents[0].controller.abort();
    agents[1].tunnel.close();
    await hub.closed.waitForCount(3);
    await Promise.all(agents.map((a) => a.serving));

    expect(snapshots.sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: "a1", listed: expect.not.arrayContaining(["a1"]), keyReady: expect.any(Boolean), allReady: expect.any(Boolean) },
      { name: "a2", listed: expect.not.arrayContaining(["a2"]), keyReady: expect.any(Boolean), allReady: expect.any(Boolean) },
      { name: "b1", listed: expect.not.arrayContaining(["b1"]), keyReady: false, allReady: expect.any(Boolean) },
    ]);
    // Whichever of a1/a2 closed last left key A (and everything) not ready at that moment.
    expect(snapshots.filter((s) => s.name !== "b1").some((s) => !s.keyReady)).toBe(true);
    expect(snapshots.some((s) => s.listed.length === 0 && !s.allReady)).toBe(true);

    expect(hub.opened.items).toHaveLength(3);
    expect(hub.closed.items).toHaveLength(3);
    expect(new Set(hub.closed.items)).toEqual(new Set(hub.opened.items));
    for (const tunnel of hub.opened.items) {
      expect(tunnel.closed).toBe(true);
    }
    expect(hub.keyCalls()).toBe(3);
    expect(hub.handler.allReverseTunnels()).toEqual([]);
  });

  it("waitForReady resolves when the first matching tunnel arrives, not before", async () => {
    const hub = await startHub(cleanup);
    const forC = hub.handler.keyAsChannel("C");
    const forAll = hub.handler.asChannel();
    expect([forC.ready(), forAll.ready()]).toEqual([false, false]);
    const order: string[] = [];
    const waits = [
      forC.waitForReady().then(() => order.push(`C ready=${forC.ready()}`)),
      forC.waitForReady({ signal: new AbortController().signal }).then(() => order.push("C again")),
      forAll.waitForReady().then(() => order.push(`all ready=${forAll.ready()}`)),
    ];

    await connectAgent(cleanup, hub, { name: "b1", key: "B" });
    await settle();
    expect(order).toEqual(["all ready=true"]);
    expect(forC.ready()).toBe(false);

    await connectAgent(cleanup, hub, { name: "c1", key: "C" });
    await Promise.all(waits);
    expect(order).toEqual(["all ready=true", "C ready=true", "C again"]);
    expect(servedBy(await unaryCall(forC, TestService.method.unary, {}))).toBe("c1");
    // Already ready: resolves at once.
    await forC.waitForReady();
  });

  it("waitForReady rejects when its signal aborts", async () => {
    const hub = await startHub(cleanup);
    const ch = hub.handler.keyAsChannel("never");

    const controller = new AbortController();
    const pending = outcome(ch.waitForReady({ signal: controller.signal }));
    await settle();
    controller.abort();
    const aborted = await pending;
    expect(aborted.ok).toBe(false);
    expect(aborted.ok || aborted.error).toBeInstanceOf(TunnelError);
    expect(aborted.ok || aborted.error).toMatchObject({ code: Code.CANCELLED });

    const already = await outcome(ch.waitForReady({ signal: AbortSignal.abort() }));
    expect(already.ok || already.error).toMatchObject({ code: Code.CANCELLED });

    const timedOut = await outcome(ch.waitForReady({ signal: AbortSignal.timeout(20) }));
    expect(timedOut.ok || timedOut.error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });

    const custom = new AbortController();
    const withReason = outcome(ch.waitForReady({ signal: custom.signal }));
    custom.abort(new TunnelError(Code.ABORTED, "gave up"));
    expect((await withReason).ok || ((await withReason) as { error: unknown }).error).toMatchObject({
      code: Code.ABORTED,
      rawMessage: "gave up",
    });

    // A tunnel for the key arriving after the aborts changes nothing for them and works.
    await connectAgent(cleanup, hub, { name: "n1", key: "never" });
    expect(servedBy(await unaryCall(ch, TestService.method.unary, {}))).toBe("n1");
  });

  it("computes affinity keys from the peer address", async () => {
    const hub = await startHub(cleanup, { affinityKey: (t) => t.peer });
    const a1 = await connectAgent(cleanup, hub, { name: "a1" });
    const a2 = await connectAgent(cleanup, hub, { name: "a2" });
    expect(a1.tunnel.peer).not.toBe(a2.tunnel.peer);
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel(a2.tunnel.peer), TestService.method.unary, {}))).toBe("a2");
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel(a1.tunnel.peer), TestService.method.unary, {}))).toBe("a1");
  });

  it("computes keys from what an auth interceptor stored, and refuses unauthenticated tunnels", async () => {
    // A grpc-js server interceptor authenticates the tunnel RPC and records
    // the verified identity in its metadata (dropping any forged copy).
    const auth: grpc.ServerInterceptor = (_method, call) =>
      new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMetadata: (md, nextMd) => {
              md.remove("x-verified-agent");
              const token = String(md.get("authorization")[0] ?? "");
              if (token.startsWith("Bearer good:")) {
                md.set("x-verified-agent", token.slice("Bearer good:".length));
              }
              nextMd(md);
            },
          }),
      });
    const hub = await startHub<string>(cleanup, {
      serverOptions: { interceptors: [auth] },
      affinityKey: (t: TunnelChannel) => {
        if (t.metadata.get("authorization")[0] === "Bearer crash") {
          throw new Error("token database unreachable");
        }
        const verified = t.metadata.get("x-verified-agent")[0];
        if (verified === undefined) {
          throw new TunnelError(Code.UNAUTHENTICATED, "reverse tunnel needs a valid token");
        }
        return String(verified);
      },
    });
    const good = await connectAgent(cleanup, hub, { name: "good", serve: { metadata: { authorization: "Bearer good:agent-7" } } });
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("agent-7"), TestService.method.unary, {}))).toBe("good");

    const forged = startAgent(cleanup, hub.address, {
      name: "forger",
      serve: { metadata: { authorization: "Bearer bad", "x-verified-agent": "agent-7" } },
    });
    const refused = await forged.serving;
    expect(refused.started).toBe(false);
    expect(refused.error).toMatchObject({ code: Code.UNAUTHENTICATED, rawMessage: "reverse tunnel needs a valid token" });

    // Any other failure is INTERNAL, without leaking its message to the peer.
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    cleanup.add(() => process.off("warning", onWarning));
    const crashing = startAgent(cleanup, hub.address, { name: "crash", serve: { metadata: { authorization: "Bearer crash" } } });
    expect(await crashing.serving).toMatchObject({
      started: false,
      error: { code: Code.INTERNAL, rawMessage: "could not compute the reverse tunnel's affinity key" },
    });
    await settle();
    expect(warnings.filter((w) => w.includes("token database unreachable"))).toHaveLength(1);

    expect(hub.opened.items.map(agentName)).toEqual(["good"]);
    expect(hub.closed.items).toEqual([]);
    expect(hub.handler.allReverseTunnels()).toEqual([good.tunnel]);
    expect(forged.rts.activeTunnels).toBe(0);
  });

  it("a callback that throws does not break the tunnel or the server", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on("warning", onWarning);
    cleanup.add(() => process.off("warning", onWarning));
    const hub = await startHub(cleanup, {
      onReverseTunnelOpen: () => {
        throw new Error("open callback bug");
      },
      onReverseTunnelClose: () => {
        throw new Error("close callback bug");
      },
    });
    const a1 = await connectAgent(cleanup, hub, { name: "a1" });
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}))).toBe("a1");
    a1.rts.stop();
    await hub.closedTunnelOf("a1");
    expect(hub.handler.allReverseTunnels()).toEqual([]);
    await connectAgent(cleanup, hub, { name: "a2" });
    expect(servedBy(await unaryCall(hub.handler.asChannel(), TestService.method.unary, {}))).toBe("a2");
    await settle();
    // a1 open, a1 close, a2 open
    expect(warnings.filter((w) => w.includes("callback bug"))).toHaveLength(3);
  });

  it("noReverseTunnels: OpenReverseTunnel is UNIMPLEMENTED and asking for a channel is an error", async () => {
    const hub = await startHub(cleanup, { noReverseTunnels: true });
    const agent = startAgent(cleanup, hub.address, { name: "a1" });
    const result = await agent.serving;
    expect(result.started).toBe(false);
    expect(result.error).toMatchObject({ code: Code.UNIMPLEMENTED, rawMessage: "reverse tunnels not supported" });
    expect(() => hub.handler.asChannel()).toThrow(/noReverseTunnels/);
    expect(() => hub.handler.keyAsChannel("a1")).toThrow(/noReverseTunnels/);
    expect(hub.handler.allReverseTunnels()).toEqual([]);
    expect(hub.opened.items).toEqual([]);
    expect(hub.keyCalls()).toBe(0);
  });
});
