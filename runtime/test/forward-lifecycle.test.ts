import { afterEach, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code, openTunnel, TunnelError, TunnelServiceHandler, type HandlerContext, serverStreamCall, unaryCall } from "../src/index.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";
import { deferred, forwardFixture } from "./support/forward-fixture.js";
import { c2s, RawTunnel } from "./support/raw-tunnel.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A unary implementation that parks until its call's signal fires, and reports what it saw. */
function parkingImpl() {
  const entered = deferred<HandlerContext>();
  const aborted = deferred<unknown>();
  return {
    entered: entered.promise,
    aborted: aborted.promise,
    impl: {
      unary: (_req: unknown, ctx: HandlerContext) => {
        entered.resolve(ctx);
        return new Promise<never>((_, reject) =>
          ctx.signal.addEventListener("abort", () => {
            aborted.resolve(ctx.signal.reason);
            reject(ctx.signal.reason);
          }),
        );
      },
      serverStream: async function* (_req: unknown, ctx: HandlerContext) {
        entered.resolve(ctx);
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        aborted.resolve(ctx.signal.reason);
      },
    },
  };
}

describe("deadlines", () => {
  it("sends grpc-timeout; the caller gets DEADLINE_EXCEEDED and the handler's signal fires", async () => {
    const park = parkingImpl();
    const { tunnel } = await forwardFixture(cleanup, { impl: park.impl });
    const started = Date.now();
    const call = unaryCall(tunnel, TestService.method.unary, {}, { timeoutMs: 150 });
    const ctx = await park.entered;
    expect(ctx.deadline).toBeInstanceOf(Date);
    expect(ctx.deadline!.getTime() - started).toBeGreaterThan(50);
    expect(ctx.deadline!.getTime() - started).toBeLessThan(1_000);
    await expect(call).rejects.toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    const reason = await park.aborted;
    expect([Code.DEADLINE_EXCEEDED, Code.CANCELLED]).toContain((reason as TunnelError).code);
  });

  it("enforces the deadline on the server even if the client never cancels", async () => {
    const park = parkingImpl();
    const handler = new TunnelServiceHandler();
    handler.registerService(TestService, park.impl);
    const srv = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => srv.kill());
    const client = tunnelClient(srv.address);
    cleanup.add(() => client.close());
    const raw = new RawTunnel(client, { negotiate: true });
    cleanup.add(() => raw.call.cancel());
    raw.send(c2s.newStream(1n, "/grpchantesting.TestService/Unary", 1, { "grpc-timeout": "100m" }));
    raw.send(c2s.message(1n, 0, new Uint8Array()));
    raw.send(c2s.halfClose(1n));
    const close = await raw.waitFor((f) => f.streamId === 1n && f.frame.case === "closeStream");
    expect(close.frame.case === "closeStream" && close.frame.value.status?.code).toBe(Code.DEADLINE_EXCEEDED);
    expect(((await park.aborted) as TunnelError).code).toBe(Code.DEADLINE_EXCEEDED);
  });
});

describe("cancellation", () => {
  it("aborting the call's signal sends cancel; the handler sees CANCELLED", async () => {
    const park = parkingImpl();
    const { tunnel } = await forwardFixture(cleanup, { impl: park.impl });
    const abort = new AbortController();
    const call = unaryCall(tunnel, TestService.method.unary, {}, { signal: abort.signal });
    await park.entered;
    abort.abort();
    await expect(call).rejects.toMatchObject({ code: Code.CANCELLED });
    expect(((await park.aborted) as TunnelError).code).toBe(Code.CANCELLED);
  });

  it("breaking out of a server stream cancels the call on the server", async () => {
    const stopped = deferred<unknown>();
    const { tunnel } = await forwardFixture(cleanup, {
      impl: {
        ...testServiceImpl,
        serverStream: async function* (_req, ctx) {
          try {
            for (let i = 0; ; i++) yield { count: i };
          } finally {
            stopped.resolve(ctx.signal.reason);
          }
        },
      },
    });
    let seen = 0;
    for await (const res of serverStreamCall(tunnel, TestService.method.serverStream, {})) {
      seen = res.count;
      if (seen === 10) break;
    }
    expect(seen).toBe(10);
    expect(await stopped.promise).toMatchObject({ code: Code.CANCELLED });
    expect(tunnel.activeCalls).toBe(0);
    // The tunnel keeps working.
    const res = await unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([3]) });
    expect(res.payload).toEqual(new Uint8Array([3]));
  });

  it("an already-aborted signal fails the call without sending it", async () => {
    const { tunnel } = await forwardFixture(cleanup);
    const error = await unaryCall(tunnel, TestService.method.unary, {}, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: Code.CANCELLED });
  });
});

describe("tunnel end", () => {
  it("killing the tunnel RPC fails every open call within 1 s", async () => {
    const park = parkingImpl();
    const { tunnel, server } = await forwardFixture(cleanup, { impl: { ...testServiceImpl, serverStream: park.impl.serverStream } });
    const calls = Array.from({ length: 20 }, () =>
      (async () => {
        for await (const _ of serverStreamCall(tunnel, TestService.method.serverStream, {})) {
          // never yields
        }
      })().catch((e: unknown) => e),
    );
    await park.entered;
    const killedAt = performance.now();
    server.kill();
    const errors = await Promise.all(calls);
    expect(performance.now() - killedAt).toBeLessThan(1_000);
    for (const error of errors) {
      expect(error).toBeInstanceOf(TunnelError);
      expect([Code.UNAVAILABLE, Code.CANCELLED]).toContain((error as TunnelError).code);
    }
    const end = await tunnel.done;
    expect(tunnel.closed).toBe(true);
    expect(end.error).toBeInstanceOf(TunnelError);
    await expect(unaryCall(tunnel, TestService.method.unary, {})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
  });

  it("closing the tunnel cancels its calls on both ends and ends cleanly", async () => {
    const park = parkingImpl();
    const { tunnel } = await forwardFixture(cleanup, { impl: park.impl });
    const call = unaryCall(tunnel, TestService.method.unary, {}).catch((e: unknown) => e);
    await park.entered;
    tunnel.close();
    expect(await call).toMatchObject({ code: Code.CANCELLED });
    expect((await park.aborted) as TunnelError).toBeInstanceOf(TunnelError);
    const end = await tunnel.done;
    expect(end.error).toBeUndefined();
  });

  it("aborting the signal passed to openTunnel closes the tunnel", async () => {
    const abort = new AbortController();
    const { tunnel } = await forwardFixture(cleanup, { tunnel: { signal: abort.signal } });
    expect((await unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([1]) })).payload).toEqual(new Uint8Array([1]));
    abort.abort();
    await tunnel.done;
    await expect(unaryCall(tunnel, TestService.method.unary, {})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
  });

  it("a handler with nothing registered answers OpenTunnel with UNIMPLEMENTED", async () => {
    const handler = new TunnelServiceHandler();
    const srv = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => srv.kill());
    const client = tunnelClient(srv.address);
    cleanup.add(() => client.close());
    await expect(openTunnel(client)).rejects.toMatchObject({
      code: Code.UNIMPLEMENTED,
      rawMessage:
        "forward tunnels not supported: no services are registered on this TunnelServiceHandler" +
        " (register one, e.g. with a generated registerFooService(handler, impl), before clients open tunnels)",
    });
  });
});

describe("graceful shutdown", () => {
  it("initiateShutdown refuses new calls with UNAVAILABLE while running ones finish", async () => {
    const release = deferred();
    const entered = deferred();
    const { tunnel, handler } = await forwardFixture(cleanup, {
      impl: {
        ...testServiceImpl,
        serverStream: async function* () {
          entered.resolve();
          yield { count: 1 };
          await release.promise;
          yield { count: 2 };
        },
      },
    });
    const counts: number[] = [];
    const running = (async () => {
      for await (const res of serverStreamCall(tunnel, TestService.method.serverStream, {})) counts.push(res.count);
    })();
    await entered.promise;
    handler.initiateShutdown();
    await expect(unaryCall(tunnel, TestService.method.unary, {})).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: "server is shutting down",
    });
    release.resolve();
    await running;
    expect(counts).toEqual([1, 2]);
  });
});
