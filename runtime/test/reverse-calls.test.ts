// The network server calls services hosted by its network clients over
// reverse tunnels: every call kind, metadata, errors, deadlines, cancellation.
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import {
  Code,
  TunnelError,
  type HandlerContext,
  type TunnelChannel,
  bidiStreamCall,
  clientStreamCall,
  serverStreamCall,
  unaryCall,
} from "../src/index.js";
import { EventLog, outcome } from "./support/events.js";
import { deferred } from "../src/deferred.js";
import { AGENT_NAME, connectAgent, drain, Gate, requests, servedBy, startHub } from "./support/reverse.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const BIG = 200_000; // several 16 KiB chunks and more than one 64 KiB window

// (vitest's deep equality walks typed arrays element by element: slow for 200 KB)
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe("reverse tunnel calls (server calls client)", () => {
  it("carries all four call kinds, small and large, to the agent", async () => {
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a1", key: "A" });
    expect(agent.tunnel.direction).toBe("reverse");
    expect(agent.tunnel.protocolRevision).toBe(1);
    const ch = hub.handler.keyAsChannel("A");

    for (const size of [3, BIG]) {
      const payload = new Uint8Array(size).fill(7);
      let header: string | undefined;
      let trailer: string | undefined;
      const unary = await unaryCall(
        ch,
        TestService.method.unary,
        { payload, headers: { "x-h": Buffer.from("hv") }, trailers: { "x-t": Buffer.from("tv") } },
        {
          metadata: { "x-call": "c1" },
          onHeader: (md) => (header = String(md.get("x-h")[0])),
          onTrailer: (md) => (trailer = String(md.get("x-t")[0])),
        },
      );
      expect(sameBytes(unary.payload, payload)).toBe(true);
      expect(servedBy(unary)).toBe("a1");
      expect(Buffer.from(unary.headers["x-call"]).toString()).toBe("c1");
      expect([header, trailer]).toEqual(["hv", "tv"]);

      const clientStream = await clientStreamCall(ch, TestService.method.clientStream, requests(5, size));
      expect(clientStream.count).toBe(5);
      expect(sameBytes(clientStream.payload, new Uint8Array(size).fill(4))).toBe(true);
      expect(servedBy(clientStream)).toBe("a1");

      const serverStream = await drain(serverStreamCall(ch, TestService.method.serverStream, { count: 4, payload }));
      expect(serverStream.map((r) => [r.payload.length, servedBy(r)])).toEqual(Array(4).fill([size, "a1"]));

      const bidi = await drain(bidiStreamCall(ch, TestService.method.bidiStream, requests(4, size)));
      expect(bidi.map((r) => [r.count, r.payload.length, servedBy(r)])).toEqual([1, 2, 3, 4].map((n) => [n, size, "a1"]));
    }
  });

  it("agent handlers see the call metadata and the reverse tunnel's metadata", async () => {
    const seen = deferred<HandlerContext>();
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, {
      name: "a1",
      serve: { metadata: { "x-tunnel": "tv" } },
      impl: {
        unary(req, ctx) {
          seen.resolve(ctx);
          return { payload: req.payload };
        },
      },
    });
    await unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}, { metadata: { "x-call": "cv" }, timeoutMs: 5_000 });
    const ctx = await seen.promise;
    expect(ctx.method).toBe("/grpchantesting.TestService/Unary");
    expect(ctx.metadata.get("x-call")).toEqual(["cv"]);
    expect(ctx.tunnelMetadata.get("x-tunnel")).toEqual(["tv"]);
    expect(ctx.tunnelMetadata.get(AGENT_NAME)).toEqual(["a1"]);
    expect(ctx.deadline).toBeInstanceOf(Date);
    expect(ctx.deadline!.getTime() - Date.now()).toBeGreaterThan(1_000);
  });

  it("returns the agent's errors with code, message, details and trailers", async () => {
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, { name: "a1" });
    const ch = hub.handler.keyAsChannel("a1");
    let trailers: string | undefined;
    const res = await outcome(
      unaryCall(
        ch,
        TestService.method.unary,
        { code: Code.FAILED_PRECONDITION, trailers: { t: Buffer.from("v") } },
        { onTrailer: (md) => (trailers = String(md.get("t")[0])) },
      ),
    );
    expect(res.ok).toBe(false);
    expect(res.ok || res.error).toBeInstanceOf(TunnelError);
    expect(res.ok || res.error).toMatchObject({ code: Code.FAILED_PRECONDITION, rawMessage: "error" });
    expect(trailers).toBe("v");

    const streamed = await outcome(drain(serverStreamCall(ch, TestService.method.serverStream, { count: 2, code: Code.ABORTED })));
    expect(streamed.ok || streamed.error).toMatchObject({ code: Code.ABORTED });
    // The tunnel is still fine.
    expect(servedBy(await unaryCall(ch, TestService.method.unary, {}))).toBe("a1");
  });

  it("a method the agent does not implement is UNIMPLEMENTED and the tunnel stays up", async () => {
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a1" });
    const ch = hub.handler.keyAsChannel("a1");
    const stream = ch.startCall("/grpchantesting.Nope/Missing");
    stream.closeSend();
    await expect(stream.read()).rejects.toMatchObject({
      code: Code.UNIMPLEMENTED,
      rawMessage: "grpchantesting.Nope/Missing not implemented",
    });
    expect(servedBy(await unaryCall(ch, TestService.method.unary, {}))).toBe("a1");
    expect(agent.tunnel.closed).toBe(false);
  });

  it("a deadline set by the server ends the call on both ends", async () => {
    const aborted = new EventLog<{ reason: unknown; deadline: Date | undefined }>();
    const hub = await startHub(cleanup);
    await connectAgent(cleanup, hub, {
      name: "a1",
      impl: {
        unary: (_req, ctx) =>
          new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              aborted.push({ reason: ctx.signal.reason, deadline: ctx.deadline });
              reject(ctx.signal.reason);
            }),
          ),
      },
    });
    const ch = hub.handler.keyAsChannel("a1");
    const res = await outcome(unaryCall(ch, TestService.method.unary, {}, { timeoutMs: 100 }));
    expect(res.ok || res.error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    const [first] = await aborted.waitForCount(1);
    expect(first.deadline).toBeInstanceOf(Date);
    // The caller cancels at its deadline and the agent enforces the same
    // deadline: whichever reaches the handler first ends it.
    expect([Code.DEADLINE_EXCEEDED, Code.CANCELLED]).toContain((first.reason as TunnelError).code);

    // A caller that only sends grpc-timeout (no timer of its own): the agent enforces it.
    const stream = ch.startCall("/grpchantesting.TestService/Unary", { metadata: { "grpc-timeout": "100m" } });
    await stream.send(new Uint8Array());
    stream.closeSend();
    const enforced = await outcome(stream.read());
    expect(enforced.ok || enforced.error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    const [, second] = await aborted.waitForCount(2);
    expect(second.reason).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
  });

  it("aborting a call on the server cancels the agent's handler", async () => {
    const gate = new Gate();
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a1", impl: { serverStream: gate.serverStream } });
    const abort = new AbortController();
    const received: number[] = [];
    const call = outcome(
      (async () => {
        for await (const res of serverStreamCall(
          hub.handler.keyAsChannel("a1"),
          TestService.method.serverStream,
          { count: 5 },
          { signal: abort.signal },
        )) {
          received.push(res.count);
        }
      })(),
    );
    await gate.entered.promise;
    abort.abort();
    expect((await call).ok).toBe(false);
    expect(await gate.aborted.promise).toMatchObject({ code: Code.CANCELLED });
    expect(received.length).toBeLessThanOrEqual(1);
    expect(agent.tunnel.activeCalls).toBe(0);
    expect(agent.rts.activeTunnels).toBe(1);
  });

  it("reports the tunnel that carried each call (Go's WithTunnelChannel)", async () => {
    const hub = await startHub(cleanup);
    const a1 = await connectAgent(cleanup, hub, { name: "a1", key: "A" });
    const a2 = await connectAgent(cleanup, hub, { name: "a2", key: "A" });
    const ch = hub.handler.keyAsChannel("A");
    const carriers: Array<[TunnelChannel, string]> = [];
    for (let i = 0; i < 4; i++) {
      let carrier: TunnelChannel | undefined;
      const res = await unaryCall(ch, TestService.method.unary, {}, { onTunnel: (t) => (carrier = t) });
      carriers.push([carrier!, servedBy(res)]);
    }
    let streamCarrier: TunnelChannel | undefined;
    const streamed = await drain(bidiStreamCall(ch, TestService.method.bidiStream, requests(2), { onTunnel: (t) => (streamCarrier = t) }));
    carriers.push([streamCarrier!, servedBy(streamed[0])]);
    for (const [tunnel, name] of carriers) {
      expect(tunnel).toBe(name === "a1" ? a1.tunnel : a2.tunnel);
    }
    expect(new Set(carriers.map(([t]) => t)).size).toBe(2);
  });

  it("runs many concurrent calls of every kind over one reverse tunnel", async () => {
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a1" });
    const ch = hub.handler.keyAsChannel("a1");
    const calls: Array<Promise<number>> = [];
    for (let i = 0; i < 20; i++) {
      calls.push(unaryCall(ch, TestService.method.unary, { payload: new Uint8Array(i * 1000) }).then((r) => r.payload.length));
      calls.push(clientStreamCall(ch, TestService.method.clientStream, requests(3, 20_000)).then((r) => r.count));
      calls.push(
        drain(serverStreamCall(ch, TestService.method.serverStream, { count: 3, payload: new Uint8Array(30_000) })).then((r) => r.length),
      );
      calls.push(drain(bidiStreamCall(ch, TestService.method.bidiStream, requests(3, 30_000))).then((r) => r.length));
    }
    const results = await Promise.all(calls);
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => [i * 1000, 3, 3, 3]).flat());
    expect(agent.tunnel.activeCalls).toBe(0);
  });
});
