// Connect-ES service implementations (Connect's ServiceImpl and
// HandlerContext) served over forward and reverse tunnels through a Connect
// router (addConnectRoutes), called by Connect clients on tunnelTransport and
// by the runtime's own typed calls.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { StringValueSchema } from "@bufbuild/protobuf/wkt";
import {
  Code as ConnectCode,
  ConnectError,
  createClient,
  encodeBinaryHeader,
  type ConnectRouter,
  type HandlerContext,
  type Interceptor,
  type ServiceImpl,
} from "@connectrpc/connect";
import { ErrorInfoSchema } from "@protoc-gen-tunnel/runtime/errordetails";
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { addConnectRoutes, tunnelCallInfo, tunnelTransport, type ConnectRoutesOptions, type TunnelCallInfo } from "../src/connect.js";
import { Code, openTunnel, ReverseTunnelServer, TunnelError, TunnelServiceHandler, type CallChannel, unaryCall } from "../src/index.js";
import { deferred } from "../src/deferred.js";
import { outcome } from "./support/events.js";
import { connectError, messages, text } from "./support/connect.js";
import { Cleanup, startServer, tunnelClient } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

type Impl = Partial<ServiceImpl<typeof TestService>>;
type Mode = "forward" | "reverse";

/** Serves `impl` as a Connect service on a tunnel of the given kind; returns a channel to call it. */
async function serve(mode: Mode, impl: Impl, options?: ConnectRoutesOptions): Promise<CallChannel> {
  const routes = (router: ConnectRouter) => router.service(TestService, impl);
  if (mode === "forward") {
    const handler = new TunnelServiceHandler();
    addConnectRoutes(handler, routes, options);
    const srv = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => srv.kill());
    const client = tunnelClient(srv.address);
    cleanup.add(() => client.close());
    const tunnel = await openTunnel(client, { metadata: { "session-id": "s-1" } });
    cleanup.add(() => tunnel.close());
    return tunnel;
  }
  const handler = new TunnelServiceHandler<string>({ affinityKey: (t) => String(t.metadata.get("agent-id")[0]) });
  const srv = await startServer((s) => s.addService(...handler.service()));
  cleanup.add(() => srv.kill());
  const client = tunnelClient(srv.address);
  cleanup.add(() => client.close());
  const agent = new ReverseTunnelServer(client);
  addConnectRoutes(agent, routes, options);
  const id = randomUUID();
  const serving = agent.serve({ metadata: { "agent-id": id, "session-id": "s-1" } });
  cleanup.add(async () => {
    agent.stop();
    await serving;
  });
  const channel = handler.keyAsChannel(id);
  await channel.waitForReady();
  return channel;
}

/** Request headers a handler saw, echoed as a Message map (as the interop TestService does). */
function echoHeaders(ctx: HandlerContext): Record<string, Uint8Array> {
  const echoed: Record<string, Uint8Array> = {};
  for (const [key, value] of ctx.requestHeader) {
    echoed[key] = Buffer.from(value);
  }
  return echoed;
}

describe.each(["forward", "reverse"] as const)("a Connect service over a %s tunnel", (mode) => {
  it("serves all four kinds of call with Connect's HandlerContext: headers, trailers, tunnel info", async () => {
    const infos: Array<TunnelCallInfo | undefined> = [];
    const impl: Impl = {
      unary(req, ctx) {
        infos.push(ctx.values.get(tunnelCallInfo));
        ctx.responseHeader.set("x-h", "hv");
        // (Binary values must be valid UTF-8: the tunnel protocol carries them as proto strings.)
        ctx.responseHeader.set("x-h-bin", encodeBinaryHeader(new Uint8Array([0x68, 0xc3, 0xa9])));
        ctx.responseTrailer.set("x-t", `${ctx.method.name} ${ctx.service.typeName} ${ctx.protocolName} ${ctx.requestMethod}`);
        return { payload: req.payload, headers: echoHeaders(ctx) };
      },
      async clientStream(requests) {
        const payloads: string[] = [];
        for await (const req of requests) {
          payloads.push(text(req.payload));
        }
        return { payload: Buffer.from(payloads.join("+")), count: payloads.length };
      },
      async *serverStream(req, ctx) {
        ctx.responseHeader.set("x-stream", "first");
        for (let i = 0; i < req.count; i++) {
          yield { payload: req.payload, count: i };
        }
        ctx.responseTrailer.set("x-sent", String(req.count));
      },
      async *bidiStream(requests) {
        let n = 0;
        for await (const req of requests) {
          yield { payload: Buffer.from(text(req.payload).toUpperCase()), count: ++n };
        }
      },
    };
    const channel = await serve(mode, impl);
    const client = createClient(TestService, tunnelTransport(channel));

    let header: Headers | undefined;
    let trailer: Headers | undefined;
    const res = await client.unary(
      { payload: Buffer.from("hi") },
      {
        headers: { "x-call": "c", "x-call-bin": encodeBinaryHeader(new Uint8Array([9, 8])) },
        onHeader: (h) => (header = h),
        onTrailer: (t) => (trailer = t),
      },
    );
    expect(text(res.payload)).toBe("hi");
    // The handler saw the call metadata as request headers (-bin values base64, as Connect keeps them).
    expect(text(res.headers["x-call"])).toBe("c");
    expect(text(res.headers["x-call-bin"])).toBe(encodeBinaryHeader(new Uint8Array([9, 8])));
    expect(res.headers["grpc-timeout"]).toBeUndefined();
    expect(text(res.headers["content-type"])).toBe("application/grpc+proto");
    expect(header?.get("x-h")).toBe("hv");
    expect(header?.get("x-h-bin")).toBe(encodeBinaryHeader(new Uint8Array([0x68, 0xc3, 0xa9])));
    expect(header?.get("content-type")).toBeNull();
    expect(trailer?.get("x-t")).toBe("Unary grpchantesting.TestService grpc POST");
    expect(trailer?.get("grpc-status")).toBeNull();

    expect(infos).toHaveLength(1);
    const info = infos[0];
    expect(info?.tunnelMetadata.get("session-id")).toEqual(["s-1"]);
    expect(info?.peer).toMatch(/127\.0\.0\.1/);
    expect(info?.protocolRevision).toBe(1);

    const summed = await client.clientStream(
      messages([{ payload: Buffer.from("a") }, { payload: Buffer.from("b") }, { payload: Buffer.from("c") }]),
    );
    expect([text(summed.payload), summed.count]).toEqual(["a+b+c", 3]);

    let streamHeader: Headers | undefined;
    let streamTrailer: Headers | undefined;
    const counts: number[] = [];
    for await (const r of client.serverStream(
      { count: 3, payload: Buffer.from("s") },
      { onHeader: (h) => (streamHeader = h), onTrailer: (t) => (streamTrailer = t) },
    )) {
      counts.push(r.count);
    }
    expect(counts).toEqual([0, 1, 2]);
    expect(streamHeader?.get("x-stream")).toBe("first");
    expect(streamTrailer?.get("x-sent")).toBe("3");

    const chat: string[] = [];
    for await (const r of client.bidiStream(messages([{ payload: Buffer.from("x") }, { payload: Buffer.from("y") }]))) {
      chat.push(`${text(r.payload)}${r.count}`);
    }
    expect(chat).toEqual(["X1", "Y2"]);
  });

  it("sends ConnectErrors with code, message, details and trailers; other errors are INTERNAL; missing methods UNIMPLEMENTED", async () => {
    const info = create(ErrorInfoSchema, { reason: "NO_PAYLOAD", domain: "test.example" });
    const channel = await serve(mode, {
      unary(req, ctx) {
        ctx.responseTrailer.set("x-why", "empty");
        if (req.payload.length === 0) {
          throw new ConnectError("payload is empty: 100% sure", ConnectCode.InvalidArgument, { "x-err": "meta" }, [
            { desc: ErrorInfoSchema, value: info },
            { desc: StringValueSchema, value: { value: "more" } },
          ]);
        }
        throw new Error("a bug with a secret");
      },
      async *serverStream() {
        yield { count: 1 };
        throw new ConnectError("stopped after one", ConnectCode.ResourceExhausted);
      },
    });
    const client = createClient(TestService, tunnelTransport(channel));

    const invalid = await connectError(client.unary({}));
    expect([invalid.code, invalid.rawMessage]).toEqual([ConnectCode.InvalidArgument, "payload is empty: 100% sure"]);
    expect(invalid.findDetails(ErrorInfoSchema).map((d) => d.reason)).toEqual(["NO_PAYLOAD"]);
    expect(invalid.findDetails(StringValueSchema).map((d) => d.value)).toEqual(["more"]);
    expect(invalid.metadata.get("x-err")).toBe("meta");
    expect(invalid.metadata.get("x-why")).toBe("empty");

    // The runtime's own typed calls see the same status, details included.
    const typed = await outcome(unaryCall(channel, TestService.method.unary, {}));
    const tunnelError = (typed as { error: unknown }).error as TunnelError;
    expect(tunnelError).toBeInstanceOf(TunnelError);
    expect([tunnelError.code, tunnelError.rawMessage]).toEqual([Code.INVALID_ARGUMENT, "payload is empty: 100% sure"]);
    expect(tunnelError.findDetails(ErrorInfoSchema).map((d) => d.domain)).toEqual(["test.example"]);
    expect(tunnelError.details.map((d) => d.typeUrl)).toEqual([
      "type.googleapis.com/google.rpc.ErrorInfo",
      "type.googleapis.com/google.protobuf.StringValue",
    ]);

    const bug = await connectError(client.unary({ payload: Buffer.from("x") }));
    expect(bug.code).toBe(ConnectCode.Internal);
    expect(bug.rawMessage).not.toContain("secret");

    const received: number[] = [];
    const streamError = await connectError(
      (async () => {
        for await (const r of client.serverStream({})) {
          received.push(r.count);
        }
      })(),
    );
    expect(received).toEqual([1]);
    expect([streamError.code, streamError.rawMessage]).toEqual([ConnectCode.ResourceExhausted, "stopped after one"]);

    const missing = await connectError(client.clientStream(messages([{}])));
    expect(missing.code).toBe(ConnectCode.Unimplemented);
  });

  it("passes the deadline as timeoutMs and aborts ctx.signal when it passes or the caller cancels", async () => {
    const entered = deferred<number | undefined>();
    const unaryAborted = deferred<void>();
    const streamAborted = deferred<void>();
    const streaming = deferred<void>();
    const channel = await serve(mode, {
      unary: (_req, ctx) =>
        new Promise((_resolve, reject) => {
          entered.resolve(ctx.timeoutMs());
          ctx.signal.addEventListener("abort", () => {
            unaryAborted.resolve();
            reject(ctx.signal.reason);
          });
        }),
      async *serverStream(_req, ctx) {
        yield { count: 0 };
        streaming.resolve();
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
        streamAborted.resolve();
      },
    });
    const client = createClient(TestService, tunnelTransport(channel));

    const expired = await connectError(client.unary({}, { timeoutMs: 400 }));
    expect(expired.code).toBe(ConnectCode.DeadlineExceeded);
    const timeoutMs = await entered.promise;
    expect(timeoutMs).toBeGreaterThan(0);
    expect(timeoutMs).toBeLessThanOrEqual(400);

    const controller = new AbortController();
    const cancelled = connectError(
      (async () => {
        for await (const _ of client.serverStream({}, { signal: controller.signal })) {
          await streaming.promise;
          controller.abort();
        }
      })(),
    );
    expect((await cancelled).code).toBe(ConnectCode.Canceled);
    await Promise.all([unaryAborted.promise, streamAborted.promise]);
  });

  it("runs the router's interceptors and serves many concurrent calls on one tunnel", async () => {
    const seen: string[] = [];
    const interceptor: Interceptor = (next) => async (req) => {
      seen.push(`${req.method.name} ${req.header.get("x-n") ?? ""}`);
      const res = await next(req);
      res.header.set("x-intercepted", "yes");
      return res;
    };
    const channel = await serve(
      mode,
      {
        unary: async (req) => ({ payload: req.payload }),
        async *bidiStream(requests) {
          for await (const req of requests) {
            yield { payload: req.payload };
          }
        },
      },
      { interceptors: [interceptor] },
    );
    const client = createClient(TestService, tunnelTransport(channel));
    const n = 40;
    const results = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        let header: Headers | undefined;
        const res = await client.unary({ payload: Buffer.from(`u${i}`) }, { headers: { "x-n": String(i) }, onHeader: (h) => (header = h) });
        const echoed: string[] = [];
        for await (const r of client.bidiStream(messages([{ payload: Buffer.from(`b${i}`) }, { payload: Buffer.from(`c${i}`) }]))) {
          echoed.push(text(r.payload));
        }
        return [text(res.payload), header?.get("x-intercepted"), ...echoed].join(",");
      }),
    );
    expect(results).toEqual(Array.from({ length: n }, (_, i) => `u${i},yes,b${i},c${i}`));
    expect(seen.filter((s) => s.startsWith("Unary")).sort()).toEqual(Array.from({ length: n }, (_, i) => `Unary ${i}`).sort());
    expect(seen.filter((s) => s.startsWith("BidiStream"))).toHaveLength(n);
  });
});

describe("addConnectRoutes", () => {
  it("refuses a service that is already registered on the host", () => {
    const handler = new TunnelServiceHandler();
    handler.registerService(TestService, {});
    expect(() => addConnectRoutes(handler, (router) => router.service(TestService, {}))).toThrow(
      "service grpchantesting.TestService is already registered",
    );
  });
});
