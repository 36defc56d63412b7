import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, DurationSchema, EmptySchema, StringValueSchema } from "@bufbuild/protobuf/wkt";
import type { Metadata } from "@grpc/grpc-js";
import {
  Code,
  TunnelError,
  type CallOptions,
  bidiStreamCall,
  clientStreamCall,
  serverStreamCall,
  unaryCall,
} from "@protoc-gen-tunnel/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { TestService, type MessageSchema } from "../src/gen/grpchantesting/test_pb.js";
import { testServiceImpl } from "../src/test-service.js";
import { ObservedTestService } from "./support/observed-service.js";
import { Cleanup } from "../../runtime/test/support/servers.js";
import { TRANSPORTS } from "./support/transports.js";

// Each behaviour of TestService (INTEROP.md) checked with the same
// expectations over forward tunnels, reverse tunnels and plain grpc-js: the
// tunnels must be indistinguishable from gRPC for a caller.

type Request = MessageInitShape<typeof MessageSchema>;

const text = (s: string) => new Uint8Array(Buffer.from(s));
const PAYLOAD = new Uint8Array([100, 90, 80, 70, 60, 50, 40, 30, 20, 10, 0]);
// What the caller sends as call metadata, and what it asks the server to
// send back as response headers and trailers (text and binary keys).
const OUTGOING = { foo: "bar", baz: "bedazzle", "pickle-bin": PAYLOAD };
const HEADERS = { foo1: text("bar4"), baz2: text("bedazzle5"), "pickle3-bin": PAYLOAD };
const TRAILERS = { "4foo4": text("7bar7"), "5baz5": text("8bedazzle8"), "6pickle6-bin": PAYLOAD };
const DETAILS = [
  anyPack(DurationSchema, create(DurationSchema, { seconds: 42n, nanos: 7 })),
  anyPack(StringValueSchema, create(StringValueSchema, { value: "more about the error" })),
];

/** Records what a call delivered to its CallOptions callbacks, and in which order. */
class Observed {
  headers: Metadata | undefined;
  trailers: Metadata | undefined;
  readonly order: string[] = [];

  options(extra: CallOptions = {}): CallOptions {
    return {
      metadata: OUTGOING,
      onHeader: (md) => {
        this.headers = md;
        this.order.push("headers");
      },
      onTrailer: (md) => {
        this.trailers = md;
        this.order.push("trailers");
      },
      ...extra,
    };
  }
}

/** Compares metadata with a map of expected byte values (text keys as strings, -bin keys as bytes). */
function expectMetadata(md: Metadata | undefined, expected: Record<string, Uint8Array>): void {
  expect(md, "metadata was delivered").toBeDefined();
  for (const [key, value] of Object.entries(expected)) {
    const got = md!.get(key).map((v) => (typeof v === "string" ? v : Buffer.from(v).toString("hex")));
    const want = key.endsWith("-bin") ? Buffer.from(value).toString("hex") : Buffer.from(value).toString();
    expect(got, `metadata ${key}`).toEqual([want]);
  }
}

/** The request metadata the server saw, as echoed in `Message.headers` (last value of each key). */
function expectEchoedMetadata(headers: Record<string, Uint8Array>): void {
  const hex = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString("hex"));
  expect(hex(headers.foo)).toBe(hex(text("bar")));
  expect(hex(headers.baz)).toBe(hex(text("bedazzle")));
  expect(hex(headers["pickle-bin"])).toBe(hex(PAYLOAD));
}

function expectError(error: unknown, code: Code, withDetails: boolean): TunnelError {
  expect(error).toBeInstanceOf(TunnelError);
  const e = error as TunnelError;
  expect({ code: e.code, message: e.rawMessage }).toEqual({ code, message: "error" });
  if (withDetails) {
    expect(e.findDetails(DurationSchema).map((d) => [d.seconds, d.nanos])).toEqual([[42n, 7]]);
    expect(e.findDetails(StringValueSchema).map((d) => d.value)).toEqual(["more about the error"]);
  } else {
    expect(e.details).toEqual([]);
  }
  return e;
}

async function collect<T>(iterable: AsyncIterable<T>, onItem?: (item: T) => void): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const item of iterable) {
      items.push(item);
      onItem?.(item);
    }
  } catch (e) {
    return { items, error: e };
  }
  return { items, error: undefined };
}

async function* fromArray(requests: Request[]): AsyncGenerator<Request> {
  yield* requests;
}

/** Counts replies; lets a request generator wait until the n-th reply arrived. */
class ReplyCounter {
  private seen = 0;
  private waiters: Array<{ n: number; wake: () => void }> = [];

  replied(): void {
    this.seen++;
    this.waiters = this.waiters.filter((w) => {
      if (w.n > this.seen) {
        return true;
      }
      w.wake();
      return false;
    });
  }

  until(n: number): Promise<void> {
    return n <= this.seen ? Promise.resolve() : new Promise((wake) => this.waiters.push({ n, wake }));
  }
}

describe.each(TRANSPORTS)("TestService over $name", (transport) => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  async function connect(impl = new ObservedTestService().impl) {
    return transport.connect(impl, cleanup);
  }

  describe("Unary", () => {
    it("echoes the payload and request metadata, sends the requested headers and trailers", async () => {
      const channel = await connect();
      const call = new Observed();
      const response = await unaryCall(
        channel,
        TestService.method.unary,
        { payload: PAYLOAD, headers: HEADERS, trailers: TRAILERS },
        call.options(),
      );
      expect(response.payload).toEqual(PAYLOAD);
      expectEchoedMetadata(response.headers);
      expectMetadata(call.headers, HEADERS);
      expectMetadata(call.trailers, TRAILERS);
    });

    it('fails with the requested code, message "error", details, headers and trailers', async () => {
      const channel = await connect();
      const call = new Observed();
      const request = { payload: PAYLOAD, code: Code.ALREADY_EXISTS, errorDetails: DETAILS, headers: HEADERS, trailers: TRAILERS };
      const error = expectError(
        await unaryCall(channel, TestService.method.unary, request, call.options()).catch((e: unknown) => e),
        Code.ALREADY_EXISTS,
        true,
      );
      expectMetadata(error.metadata, TRAILERS);
      expectMetadata(call.headers, HEADERS);
      expectMetadata(call.trailers, TRAILERS);
    });

    it("waits delay_millis before answering", async () => {
      const channel = await connect();
      const started = performance.now();
      await unaryCall(channel, TestService.method.unary, { delayMillis: 150 });
      expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    });

    it("ends with DEADLINE_EXCEEDED when the deadline passes during the delay; the handler sees it", async () => {
      const service = new ObservedTestService();
      const channel = await connect(service.impl);
      const call = unaryCall(channel, TestService.method.unary, { delayMillis: 30_000 }, { timeoutMs: 100 });
      expect(await call.catch((e: unknown) => (e as TunnelError).code)).toBe(Code.DEADLINE_EXCEEDED);
      await (await service.nextCall()).aborted;
    });

    it("ends with CANCELLED when the caller aborts; the handler sees it", async () => {
      const service = new ObservedTestService();
      const channel = await connect(service.impl);
      const abort = new AbortController();
      const call = unaryCall(channel, TestService.method.unary, { delayMillis: 30_000 }, { signal: abort.signal });
      const handler = await service.nextCall(); // cancel only once the server runs the call
      abort.abort();
      expect(await call.catch((e: unknown) => (e as TunnelError).code)).toBe(Code.CANCELLED);
      await handler.aborted;
    });
  });

  describe("ClientStream", () => {
    it("counts the requests and answers the last one", async () => {
      const channel = await connect();
      const call = new Observed();
      const requests = [{ payload: text("one") }, { payload: text("two") }, { payload: PAYLOAD, headers: HEADERS, trailers: TRAILERS }];
      const response = await clientStreamCall(channel, TestService.method.clientStream, fromArray(requests), call.options());
      expect(response.count).toBe(3);
      expect(response.payload).toEqual(PAYLOAD);
      expectEchoedMetadata(response.headers);
      expectMetadata(call.headers, HEADERS);
      expectMetadata(call.trailers, TRAILERS);
    });

    it("answers an empty request stream with count 0", async () => {
      const channel = await connect();
      const response = await clientStreamCall(channel, TestService.method.clientStream, fromArray([]));
      expect({ count: response.count, payload: response.payload.length }).toEqual({ count: 0, payload: 0 });
    });

    it("stops reading at the first request with a code and fails with it", async () => {
      const service = new ObservedTestService();
      const channel = await connect(service.impl);
      const call = new Observed();
      const failing = { code: Code.RESOURCE_EXHAUSTED, errorDetails: DETAILS, headers: HEADERS, trailers: TRAILERS };
      const outcome = await clientStreamCall(
        channel,
        TestService.method.clientStream,
        fromArray([{ payload: PAYLOAD }, failing]),
        call.options(),
      ).catch((e: unknown) => e);
      expectError(outcome, Code.RESOURCE_EXHAUSTED, true);
      expectMetadata(call.headers, HEADERS);
      expectMetadata(call.trailers, TRAILERS);
      expect((await service.nextCall()).events).toEqual(["read", "read"]);
    });
  });

  describe("ServerStream", () => {
    it("sends count messages after the requested headers, then the trailers", async () => {
      const channel = await connect();
      const call = new Observed();
      const { items, error } = await collect(
        serverStreamCall(
          channel,
          TestService.method.serverStream,
          { payload: PAYLOAD, count: 5, headers: HEADERS, trailers: TRAILERS },
          call.options(),
        ),
        () => call.order.push("message"),
      );
      expect(error).toBeUndefined();
      expect(items.map((m) => m.payload)).toEqual(Array(5).fill(PAYLOAD));
      for (const m of items) expectEchoedMetadata(m.headers);
      expect(call.order).toEqual(["headers", "message", "message", "message", "message", "message", "trailers"]);
      expectMetadata(call.headers, HEADERS);
      expectMetadata(call.trailers, TRAILERS);
    });

    it("fails after sending its messages when the request has a code", async () => {
      const channel = await connect();
      const call = new Observed();
      const request = {
        payload: PAYLOAD,
        count: 2,
        code: Code.FAILED_PRECONDITION,
        errorDetails: DETAILS,
        headers: HEADERS,
        trailers: TRAILERS,
      };
      const { items, error } = await collect(serverStreamCall(channel, TestService.method.serverStream, request, call.options()));
      expect(items).toHaveLength(2);
      expectError(error, Code.FAILED_PRECONDITION, true);
      expectMetadata(call.headers, HEADERS);
      expectMetadata(call.trailers, TRAILERS);
    });

    it("sends nothing for count 0 and still delivers (empty) headers", async () => {
      const channel = await connect();
      const call = new Observed();
      const { items, error } = await collect(serverStreamCall(channel, TestService.method.serverStream, {}, call.options()));
      expect({ items, error }).toEqual({ items: [], error: undefined });
      expect(call.order).toEqual(["headers", "trailers"]);
    });

    it("ends with DEADLINE_EXCEEDED when the deadline passes during the delay", async () => {
      const service = new ObservedTestService();
      const channel = await connect(service.impl);
      const { error } = await collect(
        serverStreamCall(channel, TestService.method.serverStream, { count: 1, delayMillis: 30_000 }, { timeoutMs: 100 }),
      );
      expect((error as TunnelError).code).toBe(Code.DEADLINE_EXCEEDED);
      await (await service.nextCall()).aborted;
    });
  });

  describe("BidiStream", () => {
    it("full duplex: answers each request at once, counting them", async () => {
      const service = new ObservedTestService();
      const channel = await connect(service.impl);
      const call = new Observed();
      const replies = new ReplyCounter();
      async function* lockStep(): AsyncGenerator<Request> {
        // The next request goes out only after the previous reply came back.
        yield { payload: text("a"), headers: HEADERS };
        await replies.until(1);
        yield { payload: text("b") };
        await replies.until(2);
        yield { payload: text("c"), trailers: TRAILERS };
      }
      const { items, error } = await collect(bidiStreamCall(channel, TestService.method.bidiStream, lockStep(), call.options()), () =>
        replies.replied(),
      );
      expect(error).toBeUndefined();
      expect(items.map((m) => [Buffer.from(m.payload).toString(), m.count])).toEqual([
        ["a", 1],
        ["b", 2],
        ["c", 3],
      ]);
      for (const m of items) expectEchoedMetadata(m.headers);
      expect((await service.nextCall()).events).toEqual(["read", "reply", "read", "reply", "read", "reply", "end"]);
      expectMetadata(call.headers, HEADERS);
      expectMetadata(call.trailers, TRAILERS);
    });

    it("half duplex (first count < 0): replies only after the client half-closed", async () => {
      const service = new ObservedTestService();
      const channel = await connect(service.impl);
      const call = new Observed();
      const requests = [
        { payload: text("a"), count: -1, headers: HEADERS },
        { payload: text("b") },
        { payload: text("c"), trailers: TRAILERS },
      ];
      const { items, error } = await collect(bidiStreamCall(channel, TestService.method.bidiStream, fromArray(requests), call.options()));
      expect(error).toBeUndefined();
      expect(items.map((m) => [Buffer.from(m.payload).toString(), m.count])).toEqual([
        ["a", 1],
        ["b", 2],
        ["c", 3],
      ]);
      expect((await service.nextCall()).events).toEqual(["read", "read", "read", "end", "reply", "reply", "reply"]);
      expectMetadata(call.headers, HEADERS);
      expectMetadata(call.trailers, TRAILERS);
    });

    it("half duplex: sends the buffered replies, then fails at the request with a code", async () => {
      const channel = await connect();
      const call = new Observed();
      const requests = [
        { payload: PAYLOAD, count: -1, headers: HEADERS },
        { code: Code.DATA_LOSS, errorDetails: DETAILS, trailers: TRAILERS },
      ];
      const { items, error } = await collect(bidiStreamCall(channel, TestService.method.bidiStream, fromArray(requests), call.options()));
      expect(items.map((m) => m.payload)).toEqual([PAYLOAD]);
      expectError(error, Code.DATA_LOSS, true);
      expectMetadata(call.headers, HEADERS);
      expectMetadata(call.trailers, TRAILERS);
    });

    it("answers an empty request stream with no replies and success", async () => {
      const channel = await connect();
      const call = new Observed();
      const { items, error } = await collect(bidiStreamCall(channel, TestService.method.bidiStream, fromArray([]), call.options()));
      expect({ items, error }).toEqual({ items: [], error: undefined });
      expect(call.order).toEqual(["headers", "trailers"]);
    });

    it("ends with CANCELLED when the caller aborts mid-stream; the handler sees it", async () => {
      const service = new ObservedTestService();
      const channel = await connect(service.impl);
      const abort = new AbortController();
      async function* thenWait(): AsyncGenerator<Request> {
        yield { payload: text("a") };
        await new Promise<void>((resolve) => abort.signal.addEventListener("abort", () => resolve()));
      }
      const { items, error } = await collect(
        bidiStreamCall(channel, TestService.method.bidiStream, thenWait(), { signal: abort.signal }),
        () => abort.abort(),
      );
      expect(items).toHaveLength(1);
      expect((error as TunnelError).code).toBe(Code.CANCELLED);
      await (await service.nextCall()).aborted;
    });
  });

  it("UseExternalMessageTwice returns an empty message", async () => {
    const channel = await connect();
    const response = await unaryCall(channel, TestService.method.useExternalMessageTwice, {});
    expect(response).toEqual(create(EmptySchema));
  });

  it("answers UNIMPLEMENTED for a method the implementation leaves out", async () => {
    const { unary: _left, ...withoutUnary } = testServiceImpl;
    const channel = await transport.connect(withoutUnary, cleanup);
    const error = await unaryCall(channel, TestService.method.unary, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TunnelError);
    expect({ code: (error as TunnelError).code, message: (error as TunnelError).rawMessage }).toEqual({
      code: Code.UNIMPLEMENTED,
      message: "grpchantesting.TestService/Unary not implemented",
    });
  });
});
