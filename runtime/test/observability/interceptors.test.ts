import type { Metadata } from "@grpc/grpc-js";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { Code, createTunnelClient, TunnelError, unaryCall, withInterceptors, type Interceptor, type ServiceImpl } from "../../src/index.js";
import { deferred, forwardFixture, fromArray } from "../support/forward-fixture.js";
import { connectAgent, drain, startHub } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (value: Uint8Array | undefined) => (value === undefined ? undefined : new TextDecoder().decode(value));

/** Client side: sends a bearer token with every call. */
function authToken(token: string): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** Server side: refuses calls without the token, before the handler runs. */
function requireToken(token: string): Interceptor {
  return (next) => async (req) => {
    if (req.header.get("authorization")[0] !== `Bearer ${token}`) {
      throw new TunnelError(Code.UNAUTHENTICATED, "missing or wrong token");
    }
    return next(req);
  };
}

/** Retries unary calls that failed UNAVAILABLE, up to `attempts` in all. */
function retryUnavailable(attempts: number): Interceptor {
  return (next) => async (req) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (e) {
        const retryable = !req.stream && e instanceof TunnelError && e.code === Code.UNAVAILABLE && attempt < attempts;
        if (!retryable) {
          throw e;
        }
      }
    }
  };
}

type Counted = { count: number };
type Logged = { header: Metadata; trailer: Metadata } & (
  | { stream: false; message: Counted }
  | { stream: true; message: AsyncIterable<Counted> }
);
type LoggedRequest = { method: { name: string } } & (
  | { stream: false; message: Counted }
  | { stream: true; message: AsyncIterable<Counted> }
);

/** Logs each call's method, messages, headers, trailers and outcome, on either side. */
function logging(side: string, lines: string[]): Interceptor {
  const interceptor = (next: (req: LoggedRequest) => Promise<Logged>) => async (req: LoggedRequest) => {
    const name = `${side} ${req.method.name}`;
    if (req.stream) {
      req = { ...req, message: tap(req.message, (m) => lines.push(`${name} request ${m.count}`)) };
    } else {
      lines.push(`${name} request ${req.message.count}`);
    }
    try {
      const res = await next(req);
      lines.push(`${name} header ${res.header.get("x-h")[0] ?? "-"}`);
      if (!res.stream) {
        lines.push(`${name} response ${res.message.count} trailer ${res.trailer.get("x-t")[0] ?? "-"}`);
        return res;
      }
      const message = tap(
        res.message,
        (m) => lines.push(`${name} response ${m.count}`),
        () => lines.push(`${name} end trailer ${res.trailer.get("x-t")[0] ?? "-"}`),
      );
      return { ...res, message };
    } catch (e) {
      lines.push(`${name} error ${(e as TunnelError).code}`);
      throw e;
    }
  };
  return interceptor as unknown as Interceptor;
}

async function* tap<T>(messages: AsyncIterable<T>, each: (message: T) => void, end?: () => void): AsyncGenerator<T> {
  for await (const message of messages) {
    each(message);
    yield message;
  }
  end?.();
}

describe("interceptors", () => {
  it("an auth-token interceptor on the channel reaches the handler; a handler interceptor refuses calls without it", async () => {
    let served = 0;
    const impl: Partial<ServiceImpl<typeof TestService>> = {
      unary: (req, ctx) => {
        served++;
        return testServiceImpl.unary(req, ctx);
      },
      serverStream: (req, ctx) => {
        served++;
        return testServiceImpl.serverStream(req, ctx);
      },
    };
    const { tunnel } = await forwardFixture(cleanup, { impl, handler: { interceptors: [requireToken("s3cret")] } });
    const authorized = createTunnelClient(TestService, withInterceptors(tunnel, authToken("s3cret")));
    const res = await authorized.unary({ payload: bytes("hi") });
    expect(text(res.headers.authorization)).toBe("Bearer s3cret"); // the handler saw the header
    expect(await drain(authorized.serverStream({ count: 2 }))).toHaveLength(2);
    // The same through the function generated clients call.
    await expect(unaryCall(withInterceptors(tunnel, authToken("s3cret")), TestService.method.unary, {})).resolves.toBeDefined();
    expect(served).toBe(3);

    for (const channel of [tunnel, withInterceptors(tunnel, authToken("wrong"))]) {
      const client = createTunnelClient(TestService, channel);
      await expect(client.unary({})).rejects.toMatchObject({ code: Code.UNAUTHENTICATED, rawMessage: "missing or wrong token" });
      await expect(drain(client.serverStream({ count: 2 }))).rejects.toMatchObject({ code: Code.UNAUTHENTICATED });
    }
    expect(served).toBe(3);
  });

  it("a logging interceptor sees every kind of call on both sides: messages, headers, trailers and errors", async () => {
    const server: string[] = [];
    const client: string[] = [];
    const { tunnel } = await forwardFixture(cleanup, { handler: { interceptors: [logging("server", server)] } });
    const test = createTunnelClient(TestService, withInterceptors(tunnel, logging("client", client)));
    const headers = { "x-h": bytes("H") };
    const trailers = { "x-t": bytes("T") };

    await test.unary({ count: 1, headers, trailers });
    expect(client).toEqual(["client Unary request 1", "client Unary header H", "client Unary response 0 trailer T"]);
    expect(server).toEqual(["server Unary request 1", "server Unary header H", "server Unary response 0 trailer T"]);

    client.length = server.length = 0;
    expect(await drain(test.serverStream({ count: 2, headers, trailers }))).toHaveLength(2);
    expect(client).toEqual([
      "client ServerStream request 2",
      "client ServerStream header H",
      "client ServerStream response 0",
      "client ServerStream response 0",
      "client ServerStream end trailer T",
    ]);
    expect(server).toEqual([
      "server ServerStream request 2",
      "server ServerStream header -", // the handler sets its headers once it runs: after `next` returned
      "server ServerStream response 0",
      "server ServerStream response 0",
      "server ServerStream end trailer T",
    ]);

    client.length = server.length = 0;
    const sum = await test.clientStream(fromArray([{ count: 5 }, { count: 6, headers, trailers }]));
    expect(sum.count).toBe(2);
    expect(client).toEqual([
      "client ClientStream request 5",
      "client ClientStream request 6",
      "client ClientStream header H",
      "client ClientStream response 2",
      "client ClientStream end trailer T",
    ]);
    expect(server).toEqual([
      "server ClientStream request 5",
      "server ClientStream request 6",
      "server ClientStream header H",
      "server ClientStream response 2",
      "server ClientStream end trailer T",
    ]);

    client.length = server.length = 0;
    const echoed = await drain(
      test.bidiStream(
        fromArray([
          { count: 7, headers },
          { count: 8, trailers },
        ]),
      ),
    );
    expect(echoed.map((m) => m.count)).toEqual([1, 2]);
    expect(client.filter((l) => l.includes("request"))).toEqual(["client BidiStream request 7", "client BidiStream request 8"]);
    expect(client.at(-1)).toBe("client BidiStream end trailer T");
    expect(server.filter((l) => l.includes("response"))).toEqual(["server BidiStream response 1", "server BidiStream response 2"]);

    client.length = server.length = 0;
    await expect(test.unary({ code: Code.NOT_FOUND })).rejects.toMatchObject({ code: Code.NOT_FOUND });
    expect(client).toEqual(["client Unary request 0", `client Unary error ${Code.NOT_FOUND}`]);
    expect(server).toEqual(["server Unary request 0", `server Unary error ${Code.NOT_FOUND}`]);
  });

  it("runs the first interceptor outermost, and a wrapped channel's new interceptors outside the old ones", async () => {
    const order: string[] = [];
    const named =
      (name: string): Interceptor =>
      (next) =>
      async (req) => {
        order.push(`${name} in`);
        const res = await next(req);
        order.push(`${name} out`);
        return res;
      };
    const { tunnel } = await forwardFixture(cleanup);
    const channel = withInterceptors(withInterceptors(tunnel, named("c"), named("d")), named("a"), named("b"));
    await createTunnelClient(TestService, channel).unary({});
    expect(order).toEqual(["a in", "b in", "c in", "d in", "d out", "c out", "b out", "a out"]);
  });

  it("a retry interceptor repeats a unary call that failed UNAVAILABLE, and gives up after its attempts", async () => {
    let calls = 0;
    const flaky: Partial<ServiceImpl<typeof TestService>> = {
      unary(req) {
        calls++;
        if (calls % 3 !== 0) {
          throw new TunnelError(Code.UNAVAILABLE, `attempt ${calls} failed`);
        }
        return { payload: req.payload, count: calls };
      },
    };
    const { tunnel } = await forwardFixture(cleanup, { impl: flaky });
    const headers: number[] = [];
    const res = await createTunnelClient(TestService, withInterceptors(tunnel, retryUnavailable(3))).unary(
      { payload: bytes("x") },
      { onHeader: () => headers.push(calls) },
    );
    expect(res.count).toBe(3);
    expect(headers).toEqual([1, 2, 3]); // call options' callbacks report every attempt
    await expect(createTunnelClient(TestService, withInterceptors(tunnel, retryUnavailable(2))).unary({})).rejects.toMatchObject({
      code: Code.UNAVAILABLE,
      rawMessage: "attempt 5 failed",
    });
    expect(calls).toBe(5);
  });

  it("reports an interceptor's own failures as TunnelErrors, and never starts a call an interceptor refused", async () => {
    let served = 0;
    const impl: Partial<ServiceImpl<typeof TestService>> = {
      unary: () => {
        served++;
        return {};
      },
    };
    const boom: Interceptor = () => async () => {
      throw new Error("boom");
    };
    const { tunnel } = await forwardFixture(cleanup, {
      impl,
      handler: {
        interceptors: [
          (next) => async (req) => {
            if (req.header.get("fail-on-server").length > 0) {
              throw new Error("server boom");
            }
            return next(req);
          },
        ],
      },
    });
    const error = await createTunnelClient(TestService, withInterceptors(tunnel, boom))
      .unary({})
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TunnelError);
    expect(error).toMatchObject({ code: Code.UNKNOWN, rawMessage: "boom" });
    expect(served).toBe(0);
    expect(tunnel.activeCalls).toBe(0);

    await expect(createTunnelClient(TestService, tunnel).unary({}, { metadata: { "fail-on-server": "1" } })).rejects.toMatchObject({
      code: Code.UNKNOWN,
      rawMessage: "server boom",
    });
    expect(served).toBe(0);

    const wrongKind: Interceptor = (next) => async (req) => {
      const res = await next(req);
      return res.stream ? res : { ...res, stream: true, message: fromArray([res.message]) };
    };
    await expect(createTunnelClient(TestService, withInterceptors(tunnel, wrongKind)).unary({})).rejects.toMatchObject({
      code: Code.INTERNAL,
    });
  });

  it("lets handler interceptors translate errors and add response headers and trailers", async () => {
    const { tunnel } = await forwardFixture(cleanup, {
      handler: {
        interceptors: [
          (next) => async (req) => {
            req.context?.responseHeaders.set("x-served-by", "interceptor");
            try {
              const res = await next(req);
              res.trailer.set("x-outcome", "ok");
              return res;
            } catch (e) {
              if (e instanceof TunnelError && e.code === Code.NOT_FOUND) {
                throw new TunnelError(Code.PERMISSION_DENIED, "hidden");
              }
              throw e;
            }
          },
        ],
      },
    });
    const test = createTunnelClient(TestService, tunnel);
    let header: Metadata | undefined;
    let trailer: Metadata | undefined;
    await test.unary({}, { onHeader: (h) => (header = h), onTrailer: (t) => (trailer = t) });
    expect(header?.get("x-served-by")).toEqual(["interceptor"]);
    expect(trailer?.get("x-outcome")).toEqual(["ok"]);
    await expect(test.unary({ code: Code.NOT_FOUND })).rejects.toMatchObject({ code: Code.PERMISSION_DENIED, rawMessage: "hidden" });
  });

  it("cancels the call when the caller leaves a stream early, through the interceptors", async () => {
    const aborted = deferred<unknown>();
    const impl: Partial<ServiceImpl<typeof TestService>> = {
      async *serverStream(_req, ctx) {
        ctx.signal.addEventListener("abort", () => aborted.resolve(ctx.signal.reason), { once: true });
        for (let i = 0; ; i++) {
          yield { count: i };
        }
      },
    };
    const lines: string[] = [];
    const { tunnel } = await forwardFixture(cleanup, { impl, handler: { interceptors: [logging("server", lines)] } });
    const test = createTunnelClient(TestService, withInterceptors(tunnel, logging("client", lines)));
    for await (const res of test.serverStream({})) {
      if (res.count === 3) {
        break;
      }
    }
    expect(await aborted.promise).toMatchObject({ code: Code.CANCELLED });
    expect(tunnel.activeCalls).toBe(0);
  });

  it("wraps typed handlers of a ReverseTunnelServer, and typed calls on a reverse channel", async () => {
    const hub = await startHub(cleanup);
    const seen: string[] = [];
    await connectAgent(cleanup, hub, {
      name: "a1",
      rts: {
        interceptors: [
          requireToken("t"),
          (next) => async (req) => {
            seen.push(`${req.method.name} from ${String(req.context?.tunnelMetadata.get("agent-name")[0])}`);
            return next(req);
          },
        ],
      },
    });
    const channel = hub.handler.keyAsChannel("a1");
    await expect(createTunnelClient(TestService, channel).unary({})).rejects.toMatchObject({ code: Code.UNAUTHENTICATED });
    const res = await createTunnelClient(TestService, withInterceptors(channel, authToken("t"))).unary({ count: 4 });
    expect(res.count).toBe(0);
    expect(text(res.headers.authorization)).toBe("Bearer t");
    expect(seen).toEqual(["Unary from a1"]);
  });

  it("hands request streams to interceptors lazily, so they can transform them", async () => {
    const exclaim: Interceptor = (next) => async (req) =>
      next(req.stream ? { ...req, message: tap(req.message, (m) => exclaimed(m as unknown as { payload: Uint8Array })) } : req);
    const exclaimed = (m: { payload: Uint8Array }) => (m.payload = bytes(`${text(m.payload)}!`));
    const { tunnel } = await forwardFixture(cleanup);
    const test = createTunnelClient(TestService, withInterceptors(tunnel, exclaim));
    const replies = await drain(test.bidiStream(fromArray([{ payload: bytes("a") }, { payload: bytes("b") }])));
    expect(replies.map((r) => text(r.payload))).toEqual(["a!", "b!"]);
    const gate = deferred<void>();
    const slowRequests = (async function* () {
      yield { count: 1 };
      await gate.promise; // the call already runs: headers and the first reply arrive before the requests end
      yield { count: 2 };
    })();
    const responses = test.bidiStream(slowRequests)[Symbol.asyncIterator]();
    expect((await responses.next()).value?.count).toBe(1);
    gate.resolve();
    expect((await responses.next()).value?.count).toBe(2);
    expect((await responses.next()).done).toBe(true);
  });
});
