import { afterEach, describe, expect, it } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { Cleanup } from "./support/servers.js";
import { deferred, forwardFixture, type ForwardFixtureOptions } from "./support/forward-fixture.js";

type Deferred = ReturnType<typeof deferred<void>>;
import { tapForwardFrames, windowViolations, type FrameTap } from "./support/frame-tap.js";
import { clientStreamCall, serverStreamCall, unaryCall } from "../src/index.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const chunk = new Uint8Array(16_000);

/** TestService whose client-streaming handler reads nothing until `release`, then counts. */
function parkedClientStream(entered: Deferred, release: Deferred) {
  return {
    ...testServiceImpl,
    clientStream: async (requests: AsyncIterable<unknown>) => {
      entered.resolve();
      await release.promise;
      let count = 0;
      for await (const _ of requests) count++;
      return { count };
    },
  };
}

/** Resolves once `test` holds, checking after each turn of the event loop (fails after 5 s). */
async function until(test: () => boolean): Promise<void> {
  const deadline = performance.now() + 5_000;
  while (!test()) {
    if (performance.now() > deadline) throw new Error("condition not reached within 5 s");
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function sentBytes(tap: FrameTap, streamId: bigint, dir: "c2s" | "s2c"): number {
  let total = 0;
  for (const entry of tap.log) {
    if (entry.dir !== dir || entry.frame.streamId !== streamId) continue;
    const body = entry.frame.frame;
    if (body.case === "requestMessage" || body.case === "responseMessage") total += body.value.data.length;
    if (body.case === "moreRequestData" || body.case === "moreResponseData") total += body.value.length;
  }
  return total;
}

describe("flow control (revision 1)", () => {
  it("a reader that stops reading stalls only its own stream; others keep flowing", async () => {
    let tap!: FrameTap;
    let produced = 0;
    const stalled = deferred();
    const { tunnel } = await forwardFixture(cleanup, {
      wrapService: (s) => (tap = tapForwardFrames(s)).service,
      impl: {
        ...testServiceImpl,
        serverStream: async function* () {
          for (;;) {
            produced++;
            // Four 16,000-byte messages fit in the 65,536-byte window; the fifth fills it.
            if (produced === 5) stalled.resolve();
            yield { payload: chunk };
          }
        },
      },
    });
    expect(tunnel.protocolRevision).toBe(1);
    // Read one message, then stop reading (but keep the call open).
    const slow = serverStreamCall(tunnel, TestService.method.serverStream, {})[Symbol.asyncIterator]();
    await slow.next();
    await stalled.promise;

    // Hundreds of calls complete while the slow stream sits on a full window.
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => unaryCall(tunnel, TestService.method.unary, { payload: new Uint8Array([i & 0xff]) })),
    );
    expect(results.map((r) => r.payload[0])).toEqual(Array.from({ length: 200 }, (_, i) => i & 0xff));

    // The producer is held back by the window: no more than one window went
    // out (the one message read is below the credit batch), though the
    // handler would produce without limit; the sender stopped only with less
    // than it waits for left open (a quarter of the window: no silly window).
    const sent = sentBytes(tap, 1n, "s2c");
    expect(sent).toBeLessThanOrEqual(65_536);
    expect(65_536 - sent).toBeLessThan(16_384);
    expect(produced).toBeLessThanOrEqual(6);
    expect(windowViolations(tap.log)).toEqual([]);
    await slow.return?.();
  });

  it("a handler that stops reading holds back only that client's requests", async () => {
    let tap!: FrameTap;
    const entered = deferred();
    const release = deferred();
    const { tunnel } = await forwardFixture(cleanup, {
      wrapService: (s) => (tap = tapForwardFrames(s)).service,
      impl: parkedClientStream(entered, release),
    });
    let offered = 0;
    async function* endless() {
      for (offered = 0; offered < 40; offered++) yield { payload: chunk };
    }
    const slow = clientStreamCall(tunnel, TestService.method.clientStream, endless());
    await entered.promise;
    const results = await Promise.all(Array.from({ length: 50 }, () => unaryCall(tunnel, TestService.method.unary, {})));
    expect(results).toHaveLength(50);
    // The client could only put one window on the wire for the parked handler.
    expect(sentBytes(tap, 1n, "c2s")).toBeLessThanOrEqual(65_536);
    expect(offered).toBeLessThan(40);
    release.resolve();
    expect((await slow).count).toBe(40);
    expect(windowViolations(tap.log)).toEqual([]);
  });
});

describe("receiveWindowBytes", () => {
  it("each side advertises its configured window and the peer sends within it", async () => {
    let tap!: FrameTap;
    const entered = deferred();
    const release = deferred();
    const { tunnel } = await forwardFixture(cleanup, {
      handler: { limits: { receiveWindowBytes: 200_000 } },
      tunnel: { limits: { receiveWindowBytes: 300_000 } },
      wrapService: (s) => (tap = tapForwardFrames(s)).service,
      impl: parkedClientStream(entered, release),
    });
    const settings = tap.s2c.find((f) => f.frame.case === "settings");
    expect(settings?.frame.value).toMatchObject({ initialWindowSize: 200_000 });
    const slow = clientStreamCall(
      tunnel,
      TestService.method.clientStream,
      (async function* () {
        for (let i = 0; i < 40; i++) yield { payload: chunk };
      })(),
    );
    await entered.promise;
    // The parked handler reads nothing: the client stops within the
    // server's window, with less open than a message (and than a quarter
    // of the window, the least it sends a message's chunk into), and stays there.
    const message = chunk.length + 3; // with the payload field's tag and two-byte length
    const stopped = () => 200_000 - sentBytes(tap, 1n, "c2s") < message;
    await until(stopped);
    await unaryCall(tunnel, TestService.method.unary, {});
    expect(stopped()).toBe(true);
    expect(sentBytes(tap, 1n, "c2s")).toBe(12 * message);
    const newStream = tap.c2s.find((f) => f.frame.case === "newStream");
    expect(newStream?.frame.value).toMatchObject({ initialWindowSize: 300_000 });
    release.resolve();
    expect((await slow).count).toBe(40);
    expect(
      windowViolations(
        tap.log.filter((e) => e.dir === "c2s" || e.frame.frame.case === "windowUpdate"),
        200_000,
      ),
    ).toEqual([]);
  });
});

/** A handler streams `count` messages of `payload`; the tunnel reads them all. Returns the frames of the tunnel RPC. */
async function download(payload: Uint8Array, count: number, ends: Pick<ForwardFixtureOptions, "handler" | "tunnel">): Promise<FrameTap> {
  let tap!: FrameTap;
  const { tunnel } = await forwardFixture(cleanup, {
    ...ends,
    wrapService: (s) => (tap = tapForwardFrames(s)).service,
    impl: {
      ...testServiceImpl,
      serverStream: async function* () {
        for (let i = 0; i < count; i++) yield { payload };
      },
    },
  });
  let received = 0;
  for await (const res of serverStreamCall(tunnel, TestService.method.serverStream, {})) {
    received += res.payload.length;
  }
  expect(received).toBe(count * payload.length);
  return tap;
}

describe("receive window growth", () => {
  it("a reader that keeps up gets a window that grows up to maxReceiveWindowBytes; the sender uses it", async () => {
    const tap = await download(new Uint8Array(1024 * 1024), 8, {
      // Chunks as large as the window allows, so the grown window shows in them.
      handler: { limits: { maxChunkBytes: 1024 * 1024 } },
      tunnel: { limits: { maxReceiveWindowBytes: 256 * 1024 } },
    });
    const chunks = tap.s2c.flatMap(({ frame }) =>
      frame.case === "responseMessage" ? [frame.value.data.length] : frame.case === "moreResponseData" ? [frame.value.length] : [],
    );
    expect(Math.max(...chunks)).toBeGreaterThan(65_536);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(256 * 1024);
    // Every byte within the credit granted (the growth is credit too).
    expect(windowViolations(tap.log)).toEqual([]);
  });

  it("on the network server, a window grows beyond 1 MiB by default, to at most 4 MiB", async () => {
    let tap!: FrameTap;
    const { tunnel } = await forwardFixture(cleanup, {
      wrapService: (s) => (tap = tapForwardFrames(s)).service,
    });
    const payload = new Uint8Array(1_500_000);
    async function* requests() {
      for (let i = 0; i < 12; i++) yield { payload };
    }
    expect((await clientStreamCall(tunnel, TestService.method.clientStream, requests())).count).toBe(12);
    const chunks = tap.c2s.flatMap(({ frame }) =>
      frame.case === "requestMessage" ? [frame.value.data.length] : frame.case === "moreRequestData" ? [frame.value.length] : [],
    );
    expect(Math.max(...chunks)).toBeGreaterThan(1024 * 1024);
    expect(Math.max(...chunks)).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(windowViolations(tap.log)).toEqual([]);
  });

  it("once the window has grown, each message that fits half of it goes whole (one chunk), not split at the window's edge", async () => {
    const tap = await download(new Uint8Array(300_000), 40, { tunnel: { limits: { maxReceiveWindowBytes: 1024 * 1024 } } });
    // Per message: the envelope's chunk, and how many continuation chunks followed.
    const messages: Array<{ first: number; more: number }> = [];
    for (const { frame } of tap.s2c) {
      if (frame.case === "responseMessage") messages.push({ first: frame.value.data.length, more: 0 });
      if (frame.case === "moreResponseData") messages[messages.length - 1]!.more++;
    }
    expect(messages).toHaveLength(40);
    // The window starts at 64 KiB: the first messages go in pieces; once it
    // has grown past 600 KiB, every message is one chunk.
    expect(messages[0]!.more).toBeGreaterThan(0);
    expect(messages.slice(-20)).toEqual(Array.from({ length: 20 }, () => ({ first: 300_004, more: 0 })));
    expect(windowViolations(tap.log)).toEqual([]);
  });
});
