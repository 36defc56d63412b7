// One `Interceptor` type for both sides, and the names of the two families
// before it, which still compile and run.
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import {
  Code,
  createTunnelClient,
  TunnelError,
  withInterceptors,
  type CallInterceptor,
  type HandlerInterceptor,
  type Interceptor,
} from "../../src/index.js";
import type { HandlerRequest, UnaryCallRequest, UnaryHandlerResponse } from "../../src/protocol.js";
import { forwardFixture } from "../support/forward-fixture.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Seen {
  side: "client" | "server";
  method: string;
  stream: boolean;
  deadline: number | undefined;
}

/** Records each call it sees; the same function on both sides, told apart by `context`. */
function recording(seen: Seen[]): Interceptor {
  return (next) => (req) => {
    seen.push({
      side: req.context === undefined ? "client" : "server",
      method: req.method.name,
      stream: req.stream,
      deadline: req.deadline,
    });
    return next(req);
  };
}

describe("one Interceptor for both sides", () => {
  it("the same interceptor wraps typed calls and typed handlers; serving-side requests carry the context and the deadline", async () => {
    const seen: Seen[] = [];
    const interceptor = recording(seen);
    const { tunnel } = await forwardFixture(cleanup, { handler: { interceptors: [interceptor] } });
    const test = createTunnelClient(TestService, withInterceptors(tunnel, interceptor));

    const before = Date.now();
    await test.unary({}, { timeoutMs: 60_000 });
    for await (const _ of test.serverStream({ count: 2 })) {
      // drain
    }
    expect(seen.map(({ side, method, stream }) => `${side} ${method} ${stream}`)).toEqual([
      "client Unary false",
      "server Unary false",
      "client ServerStream true",
      "server ServerStream true",
    ]);
    const [client, server] = seen;
    expect(client?.deadline).toBeGreaterThanOrEqual(before + 60_000);
    // The server's deadline comes from grpc-timeout: the client's, moved by the time in between.
    expect(Math.abs(server!.deadline! - client!.deadline!)).toBeLessThan(10_000);
    expect(seen[2]?.deadline).toBeUndefined();
    expect(seen[3]?.deadline).toBeUndefined();
  });

  it("a request passed on without the handler's context fails the call with INTERNAL, naming the method", async () => {
    const dropsContext: Interceptor = (next) => (req) => next({ ...req, context: undefined });
    const { tunnel } = await forwardFixture(cleanup, { handler: { interceptors: [dropsContext] } });
    await expect(createTunnelClient(TestService, tunnel).unary({})).rejects.toMatchObject({
      code: Code.INTERNAL,
      rawMessage: expect.stringMatching(/request for Unary without the handler's context/),
    });
  });
});

describe("the names before Interceptor (deprecated)", () => {
  it("CallInterceptor and HandlerInterceptor values, written against the old request types, still work in both places", async () => {
    const peers: string[] = [];
    // Old handler-side code reads `context` without a check: its requests always had one.
    const handlerSide: HandlerInterceptor = (next) => async (req: HandlerRequest) => {
      peers.push(req.context.peer);
      const res = await next(req);
      const unary: UnaryHandlerResponse | undefined = res.stream ? undefined : res;
      unary?.trailer.set("x-old", "handler");
      return res;
    };
    const callSide: CallInterceptor = (next) => (req) => {
      const unary: UnaryCallRequest | undefined = req.stream ? undefined : req;
      unary?.header.set("x-old", "call");
      return next(req);
    };
    const sawHeader: Interceptor = (next) => (req) => {
      if (req.header.get("x-old")[0] !== "call") {
        throw new TunnelError(Code.FAILED_PRECONDITION, "no header from the client-side interceptor");
      }
      return next(req);
    };
    const { tunnel } = await forwardFixture(cleanup, { handler: { interceptors: [handlerSide, sawHeader] } });
    let trailer: string | undefined;
    await createTunnelClient(TestService, withInterceptors(tunnel, callSide)).unary(
      {},
      { onTrailer: (t) => (trailer = String(t.get("x-old")[0])) },
    );
    expect(peers).toHaveLength(1);
    expect(peers[0]).toContain("127.0.0.1");
    expect(trailer).toBe("handler");
  });
});
