// A Connect-ES client (createClient) on `tunnelTransport`, over a forward
// tunnel and over a reverse tunnel: call kinds, metadata, errors with
// details, timeouts, cancellation, interceptors.
import { create } from "@bufbuild/protobuf";
import { anyPack, StringValueSchema } from "@bufbuild/protobuf/wkt";
import { Code as ConnectCode, createClient, decodeBinaryHeader, encodeBinaryHeader, type Interceptor } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import type { CallChannel, ServiceImpl } from "../src/index.js";
import { tunnelTransport, type TunnelTransportOptions } from "../src/connect.js";
import { deferred } from "../src/deferred.js";
import { forwardFixture } from "./support/forward-fixture.js";
import { connectAgent, Gate, startHub } from "./support/reverse.js";
import { connectError, messages, text } from "./support/connect.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

type Impl = Partial<ServiceImpl<typeof TestService>>;

/** TestService (with `impl` replacing methods) behind a channel of the given kind. */
async function serve(mode: "forward" | "reverse", impl: Impl = {}): Promise<CallChannel> {
  if (mode === "forward") {
    const { tunnel } = await forwardFixture(cleanup, { impl: { ...testServiceImpl, ...impl } });
    return tunnel;
  }
  const hub = await startHub(cleanup);
  await connectAgent(cleanup, hub, { name: "c1", impl });
  return hub.handler.keyAsChannel("c1");
}

async function clientFor(mode: "forward" | "reverse", impl: Impl = {}, options?: TunnelTransportOptions) {
  return createClient(TestService, tunnelTransport(await serve(mode, impl), options));
}

describe.each(["forward", "reverse"] as const)("Connect client on tunnelTransport, %s", (mode) => {
  it("makes all four kinds of call, with request metadata, response headers and trailers", async () => {
    const client = await clientFor(mode);
    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const binary = new Uint8Array([0x68, 0xc3, 0xa9]);
    const res = await client.unary(
      { payload: Buffer.from("hi"), headers: { "x-h": Buffer.from("hv"), "x-h-bin": binary }, trailers: { "x-t": Buffer.from("tv") } },
      {
        headers: { "x-call": "c", "x-call-bin": encodeBinaryHeader(binary) },
        onHeader: (h) => (header = h),
        onTrailer: (t) => (trailer = t),
      },
    );
    expect(text(res.payload)).toBe("hi");
    expect(text(res.headers["x-call"])).toBe("c");
    expect(res.headers["x-call-bin"]).toEqual(binary);
    expect(header?.get("x-h")).toBe("hv");
    expect(decodeBinaryHeader(header?.get("x-h-bin") ?? "")).toEqual(binary);
    expect(trailer?.get("x-t")).toBe("tv");

    const streamed: number[] = [];
    for await (const r of client.serverStream({ count: 3, payload: Buffer.from("s") })) {
      streamed.push(r.payload[0]);
    }
    expect(streamed).toEqual([0x73, 0x73, 0x73]);

    const summed = await client.clientStream(messages([{ payload: Buffer.from("a") }, { payload: Buffer.from("b") }]));
    expect([summed.count, text(summed.payload)]).toEqual([2, "b"]);

    const counts: number[] = [];
    for await (const r of client.bidiStream(
      messages([{ payload: Buffer.from("x") }, { payload: Buffer.from("y") }, { payload: Buffer.from("z") }]),
    )) {
      counts.push(r.count);
    }
    expect(counts).toEqual([1, 2, 3]);
  });

  it("fails with a ConnectError carrying code, message, trailers and details", async () => {
    const client = await clientFor(mode);
    const why = anyPack(StringValueSchema, create(StringValueSchema, { value: "why" }));
    const unary = await connectError(
      client.unary({
        code: ConnectCode.NotFound,
        errorDetails: [why],
        headers: { "x-h": Buffer.from("hv") },
        trailers: { "x-t": Buffer.from("tv") },
      }),
    );
    expect([unary.code, unary.rawMessage, unary.message]).toEqual([ConnectCode.NotFound, "error", "[not_found] error"]);
    expect(unary.findDetails(StringValueSchema).map((d) => d.value)).toEqual(["why"]);
    expect([unary.metadata.get("x-h"), unary.metadata.get("x-t")]).toEqual(["hv", "tv"]);

    const received: number[] = [];
    const streamError = await connectError(
      (async () => {
        for await (const r of client.serverStream({ count: 2, code: ConnectCode.Aborted, payload: Buffer.from([9]) })) {
          received.push(r.payload[0]);
        }
      })(),
    );
    expect(received).toEqual([9, 9]);
    expect(streamError.code).toBe(ConnectCode.Aborted);

    const clientStreamError = await connectError(client.clientStream(messages([{}, { code: ConnectCode.OutOfRange }])));
    expect(clientStreamError.code).toBe(ConnectCode.OutOfRange);
  });

  it("timeoutMs: the handler gets the deadline and is cancelled when it passes", async () => {
    const entered = deferred<Date | undefined>();
    const aborted = deferred<unknown>();
    const client = await clientFor(mode, {
      unary: (_req, ctx) =>
        new Promise((_resolve, reject) => {
          entered.resolve(ctx.deadline);
          ctx.signal.addEventListener("abort", () => {
            aborted.resolve(ctx.signal.reason);
            reject(ctx.signal.reason);
          });
        }),
    });
    const started = Date.now();
    const error = await connectError(client.unary({}, { timeoutMs: 500 }));
    expect(error.code).toBe(ConnectCode.DeadlineExceeded);
    const deadline = await entered.promise;
    expect(Math.abs((deadline?.getTime() ?? 0) - (started + 500))).toBeLessThan(1_000);
    await aborted.promise;
  });

  // (Connect clients cancel only through the signal: leaving a for-await
  // loop early does not reach the transport, by Connect's design.)
  it("aborting the signal cancels the call and the handler", async () => {
    const gate = new Gate();
    const client = await clientFor(mode, { serverStream: gate.serverStream });
    const controller = new AbortController();
    const error = await connectError(
      (async () => {
        for await (const _ of client.serverStream({ count: 5 }, { signal: controller.signal })) {
          controller.abort();
        }
      })(),
    );
    expect(error.code).toBe(ConnectCode.Canceled);
    await gate.aborted.promise;
  });

  it("runs Connect interceptors, which can change the request headers", async () => {
    const log: string[] = [];
    const interceptor: Interceptor = (next) => async (req) => {
      log.push(`${req.stream ? "stream" : "unary"} ${req.url}`);
      req.header.set("x-intercepted", "yes");
      const res = await next(req);
      log.push(`done ${req.method.name}`);
      return res;
    };
    const client = await clientFor(mode, {}, { interceptors: [interceptor] });
    const res = await client.unary({});
    expect(text(res.headers["x-intercepted"])).toBe("yes");
    for await (const _ of client.serverStream({ count: 1 })) {
      // drain
    }
    expect(log).toEqual([
      "unary /grpchantesting.TestService/Unary",
      "done Unary",
      "stream /grpchantesting.TestService/ServerStream",
      "done ServerStream",
    ]);
  });
});

describe("tunnelTransport", () => {
  it("reports UNAVAILABLE when no reverse tunnel matches", async () => {
    const hub = await startHub(cleanup);
    const client = createClient(TestService, tunnelTransport(hub.handler.keyAsChannel("nobody")));
    const error = await connectError(client.unary({}));
    expect([error.code, error.rawMessage]).toEqual([ConnectCode.Unavailable, 'no reverse tunnel for key "nobody"']);
  });

  it("applies defaultTimeoutMs to calls without a timeout", async () => {
    const entered = deferred<Date | undefined>();
    const channel = await serve("forward", {
      unary: (req, ctx) => {
        entered.resolve(ctx.deadline);
        return { payload: req.payload };
      },
    });
    const client = createClient(TestService, tunnelTransport(channel, { defaultTimeoutMs: 60_000 }));
    await client.unary({});
    expect((await entered.promise)?.getTime()).toBeGreaterThan(Date.now() + 30_000);
  });
});
