// Limits on reverse tunnels: at most N per affinity key, what one more does
// (refuse it, or replace the oldest), and revoking a key's tunnels.
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, type HandlerContext, serverStreamCall, TunnelError, unaryCall } from "../src/index.js";
import { deferred } from "../src/deferred.js";
import { outcome } from "./support/events.js";
import { connectAgent, drain, Gate, servedBy, startAgent, startHub } from "./support/reverse.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

describe("maxReverseTunnelsPerKey", () => {
  it("refuses one tunnel too many for a key with RESOURCE_EXHAUSTED; other keys and later tunnels are fine", async () => {
    const hub = await startHub(cleanup, { maxReverseTunnelsPerKey: 1, reverseTunnelConflict: "refuse-new" });
    const first = await connectAgent(cleanup, hub, { name: "a1", key: "A" });
    const second = startAgent(cleanup, hub.address, { name: "a2", key: "A" });
    const refused = await second.serving;
    expect(refused.started).toBe(false);
    expect(refused.error?.code).toBe(Code.RESOURCE_EXHAUSTED);
    expect(refused.error?.rawMessage).toBe("too many reverse tunnels for this affinity key (limit 1)");

    await connectAgent(cleanup, hub, { name: "b1", key: "B" });
    expect(hub.handler.allReverseTunnels()).toHaveLength(2);

    // Once A's tunnel ends, A may connect again.
    first.rts.stop();
    await hub.closedTunnelOf("a1");
    await connectAgent(cleanup, hub, { name: "a3", key: "A" });
    const res = await unaryCall(hub.handler.keyAsChannel("A"), TestService.method.unary, {});
    expect(servedBy(res)).toBe("a3");
  });
});

describe("reverseTunnelConflict: replace-oldest", () => {
  it("is the default at limit 1: the newcomer serves at once, the replaced tunnel finishes its call, then ends with ABORTED", async () => {
    const hub = await startHub(cleanup, { maxReverseTunnelsPerKey: 1 });
    const gate = new Gate();
    const old = await connectAgent(cleanup, hub, { name: "old", key: "A", impl: { serverStream: gate.serverStream } });
    const running = drain(serverStreamCall(hub.handler.keyAsChannel("A"), TestService.method.serverStream, { count: 3 }));
    await gate.entered.promise;

    const fresh = await connectAgent(cleanup, hub, { name: "fresh", key: "A" });
    expect(old.tunnel.draining).toBe(true);
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("A"), TestService.method.unary, {}))).toBe("fresh");
    expect(hub.handler.allReverseTunnels()).toEqual([old.tunnel, fresh.tunnel]);
    expect(old.tunnel.closed).toBe(false);

    gate.release();
    expect((await running).map((r) => r.count)).toEqual([0, 1, 2]);
    expect(gate.wasAborted).toBe(false);
    expect(await old.serving).toMatchObject({
      started: true,
      error: { code: Code.ABORTED, rawMessage: "replaced by a newer reverse tunnel for the same affinity key" },
    });
    await hub.closedTunnelOf("old");
    expect(hub.handler.allReverseTunnels()).toEqual([fresh.tunnel]);
  });

  it("cancels the replaced tunnel's calls that outlast replacedTunnelGraceMs", async () => {
    const hub = await startHub(cleanup, { maxReverseTunnelsPerKey: 1, replacedTunnelGraceMs: 200 });
    const entered = deferred<HandlerContext>();
    const aborted = deferred<unknown>();
    const old = await connectAgent(cleanup, hub, {
      name: "old",
      key: "A",
      impl: {
        unary: (_req, ctx) => {
          entered.resolve(ctx);
          return new Promise<never>((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              aborted.resolve(ctx.signal.reason);
              reject(ctx.signal.reason);
            }),
          );
        },
      },
    });
    const call = outcome(unaryCall(hub.handler.keyAsChannel("A"), TestService.method.unary, {}));
    await entered.promise;
    const replacedAt = performance.now();
    await connectAgent(cleanup, hub, { name: "fresh", key: "A" });
    const result = await call;
    expect(performance.now() - replacedAt).toBeGreaterThanOrEqual(180);
    expect(result).toMatchObject({
      ok: false,
      error: { code: Code.UNAVAILABLE, rawMessage: expect.stringContaining("replaced by a newer") },
    });
    await aborted.promise;
    expect(await old.serving).toMatchObject({ started: true, error: { code: Code.ABORTED } });
  });

  it("at a limit above 1 the default refuses the newcomer; replace-oldest retires the oldest instead", async () => {
    const refusing = await startHub(cleanup, { maxReverseTunnelsPerKey: 2 });
    await connectAgent(cleanup, refusing, { name: "r1", key: "A" });
    await connectAgent(cleanup, refusing, { name: "r2", key: "A" });
    const third = startAgent(cleanup, refusing.address, { name: "r3", key: "A" });
    expect(await third.serving).toMatchObject({
      started: false,
      error: { code: Code.RESOURCE_EXHAUSTED, rawMessage: "too many reverse tunnels for this affinity key (limit 2)" },
    });

    const replacing = await startHub(cleanup, { maxReverseTunnelsPerKey: 2, reverseTunnelConflict: "replace-oldest" });
    const p1 = await connectAgent(cleanup, replacing, { name: "p1", key: "A" });
    const p2 = await connectAgent(cleanup, replacing, { name: "p2", key: "A" });
    const p3 = await connectAgent(cleanup, replacing, { name: "p3", key: "A" });
    expect(await p1.serving).toMatchObject({ started: true, error: { code: Code.ABORTED } });
    expect(replacing.handler.allReverseTunnels()).toEqual([p2.tunnel, p3.tunnel]);
    const servers = new Set<string>();
    for (let i = 0; i < 4; i++) {
      servers.add(servedBy(await unaryCall(replacing.handler.keyAsChannel("A"), TestService.method.unary, {})));
    }
    expect(servers).toEqual(new Set(["p2", "p3"]));
  });

  it("rejects a limit that is not a positive integer", async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await expect(startHub(cleanup, { maxReverseTunnelsPerKey: bad })).rejects.toThrow(
        new RangeError(`maxReverseTunnelsPerKey must be an integer >= 1 (got ${bad})`),
      );
    }
  });
});

describe("closeReverseTunnels", () => {
  it("ends every tunnel of a key with the given status, or cleanly without one; other keys are untouched", async () => {
    const hub = await startHub(cleanup);
    const a1 = await connectAgent(cleanup, hub, { name: "a1", key: "A" });
    const a2 = await connectAgent(cleanup, hub, { name: "a2", key: "A" });
    const b1 = await connectAgent(cleanup, hub, { name: "b1", key: "B" });

    expect(hub.handler.closeReverseTunnels("A", new TunnelError(Code.PERMISSION_DENIED, "device revoked"))).toBe(2);
    for (const agent of [a1, a2]) {
      expect(await agent.serving).toMatchObject({ started: true, error: { code: Code.PERMISSION_DENIED, rawMessage: "device revoked" } });
    }
    expect(hub.handler.keyAsChannel("A").ready()).toBe(false);
    expect(hub.handler.allReverseTunnels()).toEqual([b1.tunnel]);
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("B"), TestService.method.unary, {}))).toBe("b1");

    expect(hub.handler.closeReverseTunnels("nobody")).toBe(0);
    expect(hub.handler.closeReverseTunnels("B")).toBe(1);
    expect(await b1.serving).toEqual({ started: true, error: undefined });
    expect(hub.handler.allReverseTunnels()).toEqual([]);
  });
});
