import { describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code, openTunnel, TunnelError, TunnelServiceHandler, type HandlerContext, serverStreamCall, unaryCall } from "../../src/index.js";
import { Cleanup, startServer, tunnelClient } from "../support/servers.js";
import { deferred } from "../support/forward-fixture.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import { expectNoLeaksAfterEach } from "./leaks.js";

const cleanup = new Cleanup();
expectNoLeaksAfterEach(cleanup);

const MiB = 1024 * 1024;
const limits = { maxReceiveMessageBytes: 16 * MiB };

/** A tunnel through a TCP proxy to a server whose handlers report how they ended. */
async function proxiedTunnel() {
  const ended = deferred<unknown>();
  const entered = deferred<HandlerContext>();
  const handler = new TunnelServiceHandler({ limits });
  handler.registerService(TestService, {
    ...testServiceImpl,
    unary: async (req, ctx) => {
      entered.resolve(ctx);
      ctx.signal.addEventListener("abort", () => ended.resolve(ctx.signal.reason));
      return testServiceImpl.unary(req, ctx);
    },
    serverStream: async function* (req, ctx) {
      entered.resolve(ctx);
      ctx.signal.addEventListener("abort", () => ended.resolve(ctx.signal.reason));
      yield* testServiceImpl.serverStream(req, ctx);
    },
  });
  const srv = await startServer((s) => s.addService(...handler.service()));
  cleanup.add(() => srv.kill());
  const proxy = await TcpProxy.start(srv.port);
  cleanup.add(() => proxy.close());
  const client = tunnelClient(proxy.address);
  cleanup.add(() => client.close());
  const tunnel = await openTunnel(client, { limits });
  cleanup.add(() => tunnel.close());
  return { tunnel, proxy, entered: entered.promise, handlerEnded: ended.promise };
}

async function failsPromptly(call: Promise<unknown>, codes: Code[]): Promise<number> {
  const started = performance.now();
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TunnelError);
  expect(codes).toContain((error as TunnelError).code);
  return performance.now() - started;
}

describe("fault injection: the network path breaks", () => {
  it("cut while a large request is on the wire: the call fails UNAVAILABLE at once, the handler is cancelled", async () => {
    const { tunnel, proxy } = await proxiedTunnel();
    const call = unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array(8 * MiB) });
    await proxy.cutAfter("up", 2 * MiB);
    expect(await failsPromptly(call, [Code.UNAVAILABLE])).toBeLessThan(1_000);
    const end = await tunnel.done;
    expect(end.error?.code).toBe(Code.UNAVAILABLE);
  });

  it("cut while a large response is on the wire: the call fails UNAVAILABLE at once, the handler is cancelled", async () => {
    const { tunnel, proxy, entered, handlerEnded } = await proxiedTunnel();
    const consume = (async () => {
      for await (const _ of serverStreamCall(tunnel, TestService.method.serverStream, { payload: new Uint8Array(4 * MiB), count: 4 })) {
        // keep reading
      }
    })();
    await entered;
    await proxy.cutAfter("down", 2 * MiB);
    expect(await failsPromptly(consume, [Code.UNAVAILABLE])).toBeLessThan(1_000);
    expect(await handlerEnded).toBeInstanceOf(TunnelError);
  });

  it("a stalled network: the deadline still fires on time, and closing the tunnel does not hang", async () => {
    const { tunnel, proxy } = await proxiedTunnel();
    expect((await unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([1]) })).payload).toEqual(new Uint8Array([1]));
    proxy.stall();
    const started = performance.now();
    const error = await unaryCall(tunnel, TestService.method.unary, {}, { timeoutMs: 200 }).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toMatchObject({ code: Code.DEADLINE_EXCEEDED });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1_000);
    tunnel.close();
    await tunnel.done;
    await expect(unaryCall(tunnel, TestService.method.unary, {})).rejects.toMatchObject({ code: Code.UNAVAILABLE });
  });
});
