// Refused calls: how a caller learns that a server refused a call before any
// handler saw it (CallEnd.refused), tunnels that start draining on such a
// refusal, and the transparent retry of refused calls on a key's other tunnel.
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { grpcServiceDefinition, MessageSchema, TestService, testServiceImpl, type Message } from "@protoc-gen-tunnel/interop";
import { bidiStreamCall, clientStreamCall, Code, grpcChannel, serverStreamCall, type TunnelChannel, unaryCall } from "../src/index.js";
import { methodPath, type TunnelSelector } from "../src/protocol.js";
import { LocalReverseTunnelRegistry } from "../src/api/reverse/index.js";
import { outcome } from "./support/events.js";
import { deferred, forwardFixture } from "./support/forward-fixture.js";
import {
  agentName,
  connectAgent,
  drain,
  Gate,
  RecordingRegistry,
  requests,
  servedBy,
  startHub,
  type Agent,
  type Hub,
} from "./support/reverse.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const UNARY = methodPath(TestService.method.unary);

/** Call options that record the names of the agents whose tunnels carried the call, in order. */
function carriers() {
  const names: string[] = [];
  return { names, onTunnel: (t: TunnelChannel) => names.push(agentName(t)) };
}

/**
 * Two agents for key "A"; "busy" refuses every new call with
 * RESOURCE_EXHAUSTED (one parked call at its one-stream limit), "free" serves.
 * RESOURCE_EXHAUSTED does not mark a tunnel draining, so every call the
 * handler picks "busy" for is refused anew.
 */
async function busyAndFree(options: { retryRefusedCalls?: boolean | { perCallBytes?: number } } = {}) {
  const hub = await startHub(cleanup, options);
  const gate = new Gate();
  const busy = await connectAgent(cleanup, hub, {
    name: "busy",
    key: "A",
    rts: { limits: { maxConcurrentStreams: 1 } },
    impl: { serverStream: gate.serverStream },
  });
  const free = await connectAgent(cleanup, hub, { name: "free", key: "A" });
  const parked = drain(serverStreamCall(busy.tunnel, TestService.method.serverStream, { count: 2 }));
  await gate.entered.promise;
  cleanup.add(async () => {
    gate.release();
    await parked;
  });
  return { hub, busy, free, channel: hub.handler.keyAsChannel("A") };
}

describe("CallEnd.refused", () => {
  it("is true for a stream refused before any handler saw it, and the tunnel then drains", async () => {
    const { tunnel, handler } = await forwardFixture(cleanup);
    const served = tunnel.startCall(UNARY);
    served.closeSend();
    expect(await served.done).not.toHaveProperty("refused", true);

    handler.initiateShutdown();
    const refused = tunnel.startCall(UNARY);
    const end = await refused.done;
    expect(end.refused).toBe(true);
    expect(end.error).toMatchObject({ code: Code.UNAVAILABLE, rawMessage: "server is shutting down" });
    // The peer said it is shutting down: later calls are refused here, before the wire.
    expect(tunnel.draining).toBe(true);
    expect(() => tunnel.startCall(UNARY)).toThrow(
      expect.objectContaining({ code: Code.UNAVAILABLE, rawMessage: "server is shutting down" }),
    );
  });

  it("is not set when a handler ran, whatever its status, nor for refusals that no other tunnel would change", async () => {
    const { tunnel } = await forwardFixture(cleanup);
    // The handler fails with UNAVAILABLE: it had the call, so headers preceded the close.
    const failed = tunnel.startCall(UNARY);
    await failed.send(toBinary(MessageSchema, create(MessageSchema, { code: Code.UNAVAILABLE })));
    failed.closeSend();
    const failedEnd = await failed.done;
    expect(failedEnd.error?.code).toBe(Code.UNAVAILABLE);
    expect(failedEnd.refused).toBeUndefined();

    const unknown = tunnel.startCall("/grpchantesting.TestService/NoSuchMethod");
    const unknownEnd = await unknown.done;
    expect(unknownEnd.error?.code).toBe(Code.UNIMPLEMENTED);
    expect(unknownEnd.refused).toBeUndefined();
    expect(tunnel.draining).toBe(false);
  });
});

describe("transparent retry of refused calls on reverse channels", () => {
  it("an agent stopping gracefully refuses a call: it is retried on the key's other tunnel and the caller sees no error", async () => {
    const registry = new RecordingRegistry<string>();
    const hub = await startHub(cleanup, { registry });
    const gate = new Gate();
    const a1 = await connectAgent(cleanup, hub, { name: "a1", key: "A", impl: { serverStream: gate.serverStream } });
    await connectAgent(cleanup, hub, { name: "a2", key: "A" });
    const parked = drain(serverStreamCall(a1.tunnel, TestService.method.serverStream, { count: 3 }));
    await gate.entered.promise;
    const stopping = a1.rts.gracefulStop(); // a1's tunnel stays open for the parked call, refusing new ones

    // The hub does not know yet: of two calls round-robin, one lands on a1 first.
    const channel = hub.handler.keyAsChannel("A");
    const routes: string[][] = [];
    for (let i = 0; i < 2; i++) {
      const route = carriers();
      const res = await unaryCall(channel, TestService.method.unary, { payload: new Uint8Array([i]) }, { onTunnel: route.onTunnel });
      expect(servedBy(res)).toBe("a2");
      expect(res.payload).toEqual(new Uint8Array([i]));
      routes.push(route.names);
    }
    expect(routes).toContainEqual(["a1", "a2"]);
    // The first refusal marked a1 draining: never picked again, and the registry heard of it.
    expect(a1.tunnel.draining).toBe(true);
    expect(registry.drained).toEqual([a1.tunnel]);
    const after = carriers();
    await unaryCall(channel, TestService.method.unary, {}, { onTunnel: after.onTunnel });
    expect(after.names).toEqual(["a2"]);
    expect(channel.ready()).toBe(true);

    gate.release();
    expect((await parked).map((r) => r.count)).toEqual([0, 1, 2]);
    await stopping;
    await hub.closedTunnelOf("a1");
  });

  it("retries every call kind, replaying the requests sent so far and the half-close; headers and trailers come from the second tunnel", async () => {
    const { channel } = await busyAndFree();
    const header = { headers: { "x-h": new TextEncoder().encode("v") }, trailers: { "x-t": new TextEncoder().encode("w") } };
    for (let round = 0; round < 2; round++) {
      const routes: string[][] = [];
      const seen: Array<{ header?: grpc.Metadata; trailer?: grpc.Metadata }> = [];
      const options = () => {
        const route = carriers();
        routes.push(route.names);
        const got: { header?: grpc.Metadata; trailer?: grpc.Metadata } = {};
        seen.push(got);
        return {
          onTunnel: route.onTunnel,
          onHeader: (h: grpc.Metadata) => (got.header = h),
          onTrailer: (t: grpc.Metadata) => (got.trailer = t),
        };
      };
      const unary = await unaryCall(channel, TestService.method.unary, { payload: new Uint8Array([1, 2]), ...header }, options());
      expect(unary.payload).toEqual(new Uint8Array([1, 2]));
      const client = await clientStreamCall(channel, TestService.method.clientStream, requests(3, 100), options());
      expect([client.count, client.payload.length]).toEqual([3, 100]);
      const server = await drain(serverStreamCall(channel, TestService.method.serverStream, { count: 3, ...header }, options()));
      expect(server).toHaveLength(3);
      const bidi = await drain(bidiStreamCall(channel, TestService.method.bidiStream, requests(4, 10), options()));
      expect(bidi.map((r) => r.count)).toEqual([1, 2, 3, 4]);
      // Every call ended on "free"; those that were first sent to "busy" were refused there and retried.
      for (const route of routes) {
        expect(route[route.length - 1]).toBe("free");
        expect(route.length === 1 || (route.length === 2 && route[0] === "busy")).toBe(true);
      }
      if (round === 1) {
        expect(routes.flat().filter((n) => n === "busy").length).toBeGreaterThanOrEqual(2);
      }
      expect(seen[0].header?.get("x-h")).toEqual(["v"]);
      expect(seen[0].trailer?.get("x-t")).toEqual(["w"]);
      expect(seen[2].header?.get("x-h")).toEqual(["v"]);
      expect(seen[2].trailer?.get("x-t")).toEqual(["w"]);
    }
  });

  it("works for grpc-js clients over a reverse channel, empty response headers included", async () => {
    const { channel } = await busyAndFree();
    const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(TestService), "TestService");
    const client = new Client("agents", grpc.credentials.createInsecure(), { channelOverride: grpcChannel(channel) });
    cleanup.add(() => client.close());
    // Round-robin sends half of these to "busy" first: without the retry they would fail (see retryRefusedCalls: false).
    for (let i = 0; i < 4; i++) {
      const reply = await new Promise<Message>((resolve, reject) => {
        client.unary({ payload: new Uint8Array([i]) }, (err: grpc.ServiceError | null, res: Message) => (err ? reject(err) : resolve(res)));
      });
      expect(reply.payload).toEqual(new Uint8Array([i]));
      expect(servedBy(reply)).toBe("free");
    }
  });

  it("a call a handler saw is never retried: its error reaches the caller", async () => {
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, { name: "a1", key: "A" });
    await connectAgent(cleanup, hub, { name: "a2", key: "A" });
    const channel = hub.handler.keyAsChannel("A");
    for (let i = 0; i < 2; i++) {
      // The handler fails the call with UNAVAILABLE, a code refusals also use: it had the call, so it is final.
      const route = carriers();
      const res = await outcome(unaryCall(channel, TestService.method.unary, { code: Code.UNAVAILABLE }, { onTunnel: route.onTunnel }));
      expect(res.ok || res.error).toMatchObject({ code: Code.UNAVAILABLE });
      expect(route.names).toHaveLength(1);
    }
    expect(hub.handler.allReverseTunnels().map((t) => t.draining)).toEqual([false, false]);
  });

  it("a handler that saw the call and then lost its tunnel is not retried", async () => {
    const hub = await startHub(cleanup);
    const entered = deferred<void>();
    let secondSaw = 0;
    const a1 = await connectAgent(cleanup, hub, {
      name: "a1",
      key: "A",
      impl: {
        unary: async (_req, ctx) => {
          entered.resolve();
          return new Promise<never>((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)));
        },
      },
    });
    await connectAgent(cleanup, hub, {
      name: "a2",
      key: "A",
      impl: {
        unary: async (req, ctx) => {
          secondSaw++;
          return testServiceImpl.unary(req, ctx);
        },
      },
    });
    const channel = hub.handler.keyAsChannel("A");
    // Until a1 is picked: round-robin, so at most two calls.
    let call: Promise<unknown> | undefined;
    for (let i = 0; i < 2 && call === undefined; i++) {
      const route = carriers();
      const pending = outcome(unaryCall(channel, TestService.method.unary, {}, { onTunnel: route.onTunnel }));
      if (route.names[0] === "a1") {
        call = pending;
      } else {
        await pending;
      }
    }
    await entered.promise;
    const before = secondSaw;
    a1.rts.stop(); // the handler had the call: it fails, on a1's tunnel only
    expect(await call).toMatchObject({ ok: false, error: { code: Code.UNAVAILABLE } });
    expect(secondSaw).toBe(before);
  });

  it("retries once: when the second tunnel refuses too, the caller gets that refusal", async () => {
    const hub = await startHub(cleanup);
    const parkedCalls: Array<Promise<unknown>> = [];
    const gates: Gate[] = [];
    for (const name of ["b1", "b2"]) {
      const gate = new Gate();
      gates.push(gate);
      const agent = await connectAgent(cleanup, hub, {
        name,
        key: "A",
        rts: { limits: { maxConcurrentStreams: 1 } },
        impl: { serverStream: gate.serverStream },
      });
      parkedCalls.push(drain(serverStreamCall(agent.tunnel, TestService.method.serverStream, { count: 2 })));
      await gate.entered.promise;
    }
    const route = carriers();
    const res = await outcome(unaryCall(hub.handler.keyAsChannel("A"), TestService.method.unary, {}, { onTunnel: route.onTunnel }));
    expect(res.ok || res.error).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(route.names.sort()).toEqual(["b1", "b2"]);
    for (const gate of gates) {
      gate.release();
    }
    await Promise.all(parkedCalls);
  });

  it("a call whose requests outgrew the replay buffer is committed: its refusal reaches the caller", async () => {
    const { channel } = await busyAndFree({ retryRefusedCalls: { perCallBytes: 64 } });
    const routes: string[][] = [];
    const results = [];
    for (let i = 0; i < 2; i++) {
      const route = carriers();
      routes.push(route.names);
      results.push(
        await outcome(unaryCall(channel, TestService.method.unary, { payload: new Uint8Array(100) }, { onTunnel: route.onTunnel })),
      );
    }
    const onBusy = routes.findIndex((r) => r[0] === "busy");
    expect(routes[onBusy]).toEqual(["busy"]);
    expect(results[onBusy]).toMatchObject({ ok: false, error: { code: Code.RESOURCE_EXHAUSTED } });
    expect(results[1 - onBusy]).toMatchObject({ ok: true });
  });

  it("retryRefusedCalls: false leaves refusals to the caller", async () => {
    const { channel } = await busyAndFree({ retryRefusedCalls: false });
    const routes: string[][] = [];
    const results = [];
    for (let i = 0; i < 2; i++) {
      const route = carriers();
      routes.push(route.names);
      results.push(await outcome(unaryCall(channel, TestService.method.unary, {}, { onTunnel: route.onTunnel })));
    }
    expect(routes.flat().sort()).toEqual(["busy", "free"]);
    expect(results.filter((r) => !r.ok)).toMatchObject([{ error: { code: Code.RESOURCE_EXHAUSTED } }]);
  });

  it("a tunnel that ended before the call was handed to it (a stale registry entry) is skipped for another", async () => {
    // A registry that still hands out a tunnel that has ended, as a shared one may between the end and its removal.
    let stale: TunnelChannel | undefined;
    class StaleRegistry extends LocalReverseTunnelRegistry<string> {
      override pick(selector: TunnelSelector<string>): TunnelChannel | undefined {
        const fresh = super.pick(selector);
        if (stale !== undefined && fresh !== undefined) {
          const first = stale;
          stale = undefined;
          return first;
        }
        return fresh;
      }
    }
    const hub: Hub<string> = await startHub(cleanup, { registry: new StaleRegistry() });
    const gone: Agent & { tunnel: TunnelChannel } = await connectAgent(cleanup, hub, { name: "gone", key: "A" });
    await connectAgent(cleanup, hub, { name: "live", key: "A" });
    gone.tunnel.close();
    await hub.closedTunnelOf("gone");
    stale = gone.tunnel;
    const route = carriers();
    const res = await unaryCall(hub.handler.keyAsChannel("A"), TestService.method.unary, {}, { onTunnel: route.onTunnel });
    expect(servedBy(res)).toBe("live");
    expect(stale).toBeUndefined(); // the stale tunnel was offered first
    expect(route.names).toEqual(["live"]); // ...and refused before the transport saw the call
  });
});
