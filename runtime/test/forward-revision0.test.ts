import { afterEach, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Code, TunnelError, bidiStreamCall, clientStreamCall, serverStreamCall, unaryCall } from "../src/index.js";
import { Cleanup } from "./support/servers.js";
import { deferred, forwardFixture, fromArray, type ForwardFixtureOptions } from "./support/forward-fixture.js";
import { tapForwardFrames, type FrameTap } from "./support/frame-tap.js";
import { legacyClientInterceptor, legacyServerInterceptor } from "./support/legacy-peers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const big = new Uint8Array(300_000).map((_, i) => i & 0xff);

const revisionZeroPeers: Array<[string, ForwardFixtureOptions, { settings: boolean }]> = [
  ["server with flow control disabled", { handler: { disableFlowControl: true } }, { settings: true }],
  ["client with flow control disabled", { tunnel: { disableFlowControl: true } }, { settings: true }],
  ["legacy client (no negotiation header)", { clientOptions: { interceptors: [legacyClientInterceptor] } }, { settings: false }],
  ["legacy server (no negotiation header)", { serverOptions: { interceptors: [legacyServerInterceptor] } }, { settings: false }],
];

describe("revision 0 peers", () => {
  for (const [name, options, expected] of revisionZeroPeers) {
    it(`${name}: negotiates revision 0 and carries every call kind`, async () => {
      let tap!: FrameTap;
      const { tunnel } = await forwardFixture(cleanup, { ...options, wrapService: (s) => (tap = tapForwardFrames(s)).service });
      expect(tunnel.protocolRevision).toBe(0);
      expect(tap.s2c.some((f) => f.frame.case === "settings")).toBe(expected.settings);

      expect((await unaryCall(tunnel, TestService.method.unary, { payload: big })).payload).toEqual(big);
      let streamed = 0;
      for await (const res of serverStreamCall(tunnel, TestService.method.serverStream, { payload: big, count: 3 })) {
        streamed += res.payload.length;
      }
      expect(streamed).toBe(3 * big.length);
      expect((await clientStreamCall(tunnel, TestService.method.clientStream, fromArray([{ payload: big }, { payload: big }]))).count).toBe(
        2,
      );
      const counts: number[] = [];
      for await (const res of bidiStreamCall(tunnel, TestService.method.bidiStream, fromArray([{ payload: big }, { payload: big }]))) {
        counts.push(res.count);
      }
      expect(counts).toEqual([1, 2]);

      // No window_update frames and no revision on the wire in revision 0.
      expect([...tap.c2s, ...tap.s2c].some((f) => f.frame.case === "windowUpdate")).toBe(false);
      expect(tap.c2s.every((f) => f.frame.case !== "newStream" || f.frame.value.protocolRevision === 0)).toBe(true);
    });
  }

  it("bounds what a non-reading caller buffers: that call fails RESOURCE_EXHAUSTED, others go on", async () => {
    const cancelled = deferred<unknown>();
    const { tunnel } = await forwardFixture(cleanup, {
      handler: { disableFlowControl: true },
      tunnel: { limits: { maxReceiveMessageBytes: 64 * 1024, maxBufferedBytesPerStream: 256 * 1024 } },
      impl: {
        ...testServiceImpl,
        serverStream: async function* (_req, ctx) {
          try {
            for (;;) yield { payload: new Uint8Array(16_000) };
          } finally {
            cancelled.resolve(ctx.signal.reason);
          }
        },
      },
    });
    const stream = serverStreamCall(tunnel, TestService.method.serverStream, {})[Symbol.asyncIterator]();
    await stream.next(); // then stop reading
    // The server sends without limit; our side refuses to buffer past the bound.
    expect(await cancelled.promise).toMatchObject({ code: Code.CANCELLED });
    const error = await (async () => {
      for (;;) await stream.next();
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TunnelError);
    expect((error as TunnelError).code).toBe(Code.RESOURCE_EXHAUSTED);
    expect((error as TunnelError).rawMessage).toContain("without flow control");
    expect((await unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([4]) })).payload).toEqual(new Uint8Array([4]));
  });
});

describe("handlers see their stream's protocol revision", () => {
  for (const [disableFlowControl, expected] of [
    [false, 1],
    [true, 0],
  ] as const) {
    it(`revision ${expected}`, async () => {
      const { tunnel } = await forwardFixture(cleanup, {
        tunnel: { disableFlowControl },
        impl: { unary: (_req, ctx) => ({ count: ctx.protocolRevision }) },
      });
      expect((await unaryCall(tunnel, TestService.method.unary, {})).count).toBe(expected);
    });
  }
});
