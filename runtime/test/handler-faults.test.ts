// Whatever a handler throws, rejects with or does wrong through the grpc-js
// style API, its call ends promptly with a valid status (UNKNOWN or
// INTERNAL), exactly once, the tunnel goes on, and no unhandled rejection
// reaches the process (which would end it under Node's default settings).
import type * as grpc from "@grpc/grpc-js";
import { bytesMethodDefinition, TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Code, TunnelError, unaryCall, type TunnelChannel } from "../src/index.js";
import type { CallEnd } from "../src/protocol.js";
import { forwardFixture, type ForwardFixtureOptions } from "./support/forward-fixture.js";
import { tapForwardFrames, type FrameTap } from "./support/frame-tap.js";
import { Cleanup } from "./support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => process.on("unhandledRejection", onUnhandled));
afterAll(() => process.off("unhandledRejection", onUnhandled));
afterEach(async () => {
  // Rejections are reported after the microtask queue drains.
  await new Promise((resolve) => setImmediate(resolve));
  expect(unhandled.splice(0)).toEqual([]);
});

/** Values no handler should throw, each of which once escaped or hung the call. */
const hostile: Record<string, () => unknown> = {
  "Object.create(null)": () => Object.create(null),
  "an object whose toString throws": () => ({
    toString() {
      throw new Error("toString");
    },
  }),
  "an Error whose message getter throws": () => {
    const error = new Error("x");
    Object.defineProperty(error, "message", {
      get() {
        throw new Error("getter");
      },
    });
    return error;
  },
  "a Symbol": () => Symbol("thrown"),
  "a number": () => 42,
  undefined: () => undefined,
  null: () => null,
  "a Proxy whose every trap throws": () =>
    new Proxy(
      {},
      {
        get() {
          throw new Error("get");
        },
        has() {
          throw new Error("has");
        },
        getPrototypeOf() {
          throw new Error("getPrototypeOf");
        },
      },
    ),
  "an object that only carries TunnelError's brand": () => Object.create(TunnelError.prototype),
};

/** Frames of a tunnel that ended one call: exactly one close_stream for it. */
function closesOf(tap: FrameTap, streamId: bigint): number {
  return tap.s2c.filter((f) => f.streamId === streamId && f.frame.case === "closeStream").length;
}

async function tappedFixture(impl: ForwardFixtureOptions["impl"]) {
  let tap!: FrameTap;
  const fixture = await forwardFixture(cleanup, {
    impl,
    wrapService: (service) => {
      tap = tapForwardFrames(service);
      return tap.service;
    },
  });
  return { ...fixture, tap };
}

async function expectTunnelStillServes(tunnel: TunnelChannel): Promise<void> {
  const res = await unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([7]) });
  expect(res.payload).toEqual(new Uint8Array([7]));
}

describe("typed handlers", () => {
  for (const [name, value] of Object.entries(hostile)) {
    for (const how of ["throws", "rejects with"] as const) {
      it(`a unary handler that ${how} ${name}: UNKNOWN, once`, async () => {
        const { tunnel, tap } = await tappedFixture({
          ...testServiceImpl,
          serverStream:
            how === "throws"
              ? () => {
                  throw value();
                }
              : async function* () {
                  yield* [];
                  throw value();
                },
        });
        const error = await consume(tunnel).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TunnelError);
        expect((error as TunnelError).code).toBe(Code.UNKNOWN);
        expect(closesOf(tap, 1n)).toBe(1);
        await expectTunnelStillServes(tunnel);
      });
    }
  }

  it("a TunnelError with a code outside 0–16 goes out as UNKNOWN, with its message", async () => {
    for (const code of [99, -1, 2.5]) {
      const { tunnel } = await tappedFixture({
        ...testServiceImpl,
        unary: () => {
          throw new TunnelError(code as Code, "odd code");
        },
      });
      const error = (await unaryCall(tunnel, TestService.method.unary, {}).catch((e: unknown) => e)) as TunnelError;
      expect(error.code).toBe(Code.UNKNOWN);
      expect(error.rawMessage).toBe("odd code");
    }
  });
});

async function consume(tunnel: TunnelChannel): Promise<void> {
  const { serverStreamCall } = await import("../src/index.js");
  for await (const _ of serverStreamCall(tunnel, TestService.method.serverStream, {})) {
    // none expected
  }
}

// A grpc-js style service over raw bytes, so a test drives each method with
// CallStream directly.
const faultsDefinition: grpc.ServiceDefinition = {
  unary: bytesMethodDefinition("/faults.Faults/Unary", false, false),
  serverStream: bytesMethodDefinition("/faults.Faults/ServerStream", false, true),
  bidi: bytesMethodDefinition("/faults.Faults/Bidi", true, true),
};

async function grpcJsFixture(impl: grpc.UntypedServiceImplementation) {
  const fixture = await tappedFixture(testServiceImpl);
  fixture.handler.addService(faultsDefinition, impl);
  return fixture;
}

/** One call in bytes: one request, half-close, read everything; resolves with how it ended. */
async function call(tunnel: TunnelChannel, method: string): Promise<{ end: CallEnd; responses: number }> {
  const stream = tunnel.startCall(`/faults.Faults/${method}`);
  await stream.send(new Uint8Array([1]));
  stream.closeSend();
  let responses = 0;
  try {
    while ((await stream.read()) !== undefined) responses++;
  } catch {
    // the status is in `done`
  }
  return { end: await stream.done, responses };
}

describe("grpc-js style handlers", () => {
  for (const [name, value] of Object.entries(hostile)) {
    it(`a unary callback with ${name} as the error: a valid error status, once`, async () => {
      const { tunnel, tap } = await grpcJsFixture({
        unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(value() as grpc.ServiceError, null),
      });
      const { end } = await call(tunnel, "Unary");
      // A falsy "error" is no error: grpc-js then sends the (null) response.
      if (value()) {
        expect(end.error?.code).toBe(Code.UNKNOWN);
      }
      expect(closesOf(tap, 1n)).toBe(1);
    });

    it(`an async handler that rejects with ${name}: UNKNOWN, once`, async () => {
      const { tunnel, tap } = await grpcJsFixture({
        unary: async () => {
          throw value();
        },
        bidi: async () => {
          throw value();
        },
      });
      for (const [method, id] of [
        ["Unary", 1n],
        ["Bidi", 2n],
      ] as const) {
        const { end } = await call(tunnel, method);
        expect(end.error?.code).toBe(Code.UNKNOWN);
        expect(closesOf(tap, id)).toBe(1);
      }
    });

    it(`a streaming handler that emits ${name} as its error: a valid error status, once`, async () => {
      const { tunnel, tap } = await grpcJsFixture({
        bidi: (surface: grpc.ServerDuplexStream<Buffer, Buffer>) => surface.emit("error", value()),
      });
      const { end } = await call(tunnel, "Bidi");
      expect(end.error?.code).toBe(Code.UNKNOWN);
      expect(closesOf(tap, 1n)).toBe(1);
    });
  }

  it("status codes outside 0–16, or not integers, go out as UNKNOWN", async () => {
    for (const code of [99, 17, -1, 2.5, "5", Number.NaN]) {
      const { tunnel } = await grpcJsFixture({
        unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) =>
          callback({ code, details: "odd code" } as unknown as grpc.ServiceError, null),
      });
      const { end } = await call(tunnel, "Unary");
      expect(end.error?.code, `code ${String(code)}`).toBe(Code.UNKNOWN);
    }
  });

  it("a unary callback called twice: the first answer wins", async () => {
    const { tunnel } = await grpcJsFixture({
      unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => {
        callback(null, Buffer.from("first"));
        callback({ code: Code.INTERNAL, details: "second" } as grpc.ServiceError, null);
      },
      serverStream: () => {},
    });
    const first = await call(tunnel, "Unary");
    expect(first.end.error).toBeUndefined();
    expect(first.responses).toBe(1);

    const { tunnel: other } = await grpcJsFixture({
      unary: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => {
        callback({ code: Code.NOT_FOUND, details: "first" } as grpc.ServiceError, null);
        callback(null, Buffer.from("second"));
      },
    });
    const error = await call(other, "Unary");
    expect(error.end.error).toMatchObject({ code: Code.NOT_FOUND, rawMessage: "first" });
    expect(error.responses).toBe(0);
  });

  it("a streaming handler that writes after end(): the call ends with an error status instead of staying open", async () => {
    const { tunnel, tap } = await grpcJsFixture({
      // The write after end comes while the first write is still pending.
      serverStream: (surface: grpc.ServerWritableStream<Buffer, Buffer>) => {
        surface.on("error", () => {}); // the stream reports the misuse; the handler ignores it
        surface.write(Buffer.from("a"));
        surface.end();
        surface.write(Buffer.from("b"));
      },
      // ...and in the same turn as end(), with nothing pending.
      bidi: (surface: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        surface.on("error", () => {});
        surface.end();
        surface.write(Buffer.from("late"));
      },
    });
    const pending = await call(tunnel, "ServerStream");
    expect(pending.end.error?.code).toBe(Code.UNKNOWN);
    expect(pending.end.error?.rawMessage).toMatch(/write after end/);
    const sameTurn = await call(tunnel, "Bidi");
    expect(sameTurn.end.error?.code).toBe(Code.UNKNOWN);
    expect(closesOf(tap, 1n)).toBe(1);
    expect(closesOf(tap, 2n)).toBe(1);
  });

  it("a streaming handler that destroys its call: the call ends with an error status", async () => {
    const { tunnel } = await grpcJsFixture({
      bidi: (surface: grpc.ServerDuplexStream<Buffer, Buffer>) => surface.destroy(),
    });
    const { end } = await call(tunnel, "Bidi");
    expect(end.error?.code).toBe(Code.UNKNOWN);
  });
});
