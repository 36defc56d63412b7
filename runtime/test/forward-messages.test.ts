import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { DEFAULT_LIMITS } from "../src/engine/limits.js";
import { Cleanup } from "./support/servers.js";
import { forwardFixture, fromArray } from "./support/forward-fixture.js";
import { dataChunks, tapForwardFrames, windowViolations } from "./support/frame-tap.js";
import { bidiStreamCall, clientStreamCall, serverStreamCall, unaryCall } from "../src/index.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const MiB = 1024 * 1024;
const bigLimits = { limits: { maxReceiveMessageBytes: 8 * MiB } };

function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

/** The payload length whose Message (only a payload) encodes to `size` bytes: a tag byte, a varint length, the bytes. */
function payloadEncodingTo(size: number): number {
  for (let varintBytes = 1; ; varintBytes++) {
    const n = size - 1 - varintBytes;
    if (n < 128 ** varintBytes) {
      return n;
    }
  }
}

describe("message sizes across chunk boundaries", () => {
  for (const size of [0, 1, 16_384, 16_385, 5 * 1_000_000]) {
    it(`echoes a ${size}-byte payload in all four call kinds`, async () => {
      const { tunnel } = await forwardFixture(cleanup, { handler: bigLimits, tunnel: bigLimits });
      const payload = pattern(size, size);
      const unary = await unaryCall(tunnel, TestService.method.unary, { payload });
      expect(Buffer.compare(unary.payload, payload)).toBe(0);

      const streamed: Uint8Array[] = [];
      for await (const res of serverStreamCall(tunnel, TestService.method.serverStream, { payload, count: 2 })) {
        streamed.push(res.payload);
      }
      expect(streamed.map((p) => Buffer.compare(p, payload))).toEqual([0, 0]);

      const client = await clientStreamCall(tunnel, TestService.method.clientStream, fromArray([{ payload }, { payload }]));
      expect(client.count).toBe(2);
      expect(Buffer.compare(client.payload, payload)).toBe(0);

      const bidi: number[] = [];
      for await (const res of bidiStreamCall(tunnel, TestService.method.bidiStream, fromArray([{ payload }, { payload }]))) {
        expect(Buffer.compare(res.payload, payload)).toBe(0);
        bidi.push(res.count);
      }
      expect(bidi).toEqual([1, 2]);
    });
  }

  // Go's chunk size (configured) and this runtime's default: the same boundary
  // logic at each (with windows that do not cut the default chunk short).
  for (const chunk of [16_384, DEFAULT_LIMITS.maxChunkBytes]) {
    const configured = { limits: chunk === DEFAULT_LIMITS.maxChunkBytes ? { receiveWindowBytes: 2 * chunk } : { maxChunkBytes: chunk } };
    it(`splits messages of exactly ${chunk} and ${chunk + 1} bytes at the ${chunk}-byte chunk boundary, both ways`, async () => {
      let tap!: ReturnType<typeof tapForwardFrames>;
      const { tunnel } = await forwardFixture(cleanup, {
        handler: configured,
        tunnel: configured,
        wrapService: (s) => (tap = tapForwardFrames(s)).service,
      });
      await unaryCall(tunnel, TestService.method.unary, { payload: pattern(payloadEncodingTo(chunk)) });
      await unaryCall(tunnel, TestService.method.unary, { payload: pattern(payloadEncodingTo(chunk) + 1) });
      expect(dataChunks(tap.c2s, 1n)).toEqual([chunk]);
      expect(dataChunks(tap.s2c, 1n)).toEqual([chunk]);
      expect(dataChunks(tap.c2s, 2n)).toEqual([chunk, 1]);
      expect(dataChunks(tap.s2c, 2n)).toEqual([chunk, 1]);
    });
  }

  for (const [chunk, minChunks] of [
    [16_384, 300],
    [DEFAULT_LIMITS.maxChunkBytes, Math.floor(5_000_005 / DEFAULT_LIMITS.maxChunkBytes)],
  ] as const) {
    it(`never sends a chunk above maxChunkBytes (${chunk}) or beyond the receiver's window (5 MB each way)`, async () => {
      let tap!: ReturnType<typeof tapForwardFrames>;
      const limits = { ...bigLimits.limits, maxChunkBytes: chunk };
      const { tunnel } = await forwardFixture(cleanup, {
        handler: { limits },
        tunnel: { limits },
        wrapService: (s) => (tap = tapForwardFrames(s)).service,
      });
      const payload = pattern(5_000_000);
      await unaryCall(tunnel, TestService.method.unary, { payload });
      for (const frames of [tap.c2s, tap.s2c]) {
        const chunks = dataChunks(frames, 1n);
        expect(chunks.length).toBeGreaterThan(minChunks);
        expect(Math.max(...chunks)).toBeLessThanOrEqual(chunk);
        // 1 tag byte + 4 length bytes + the payload.
        expect(chunks.reduce((a, b) => a + b, 0)).toBe(5_000_005);
      }
      expect(windowViolations(tap.log)).toEqual([]);
    });
  }
});

describe("concurrency", () => {
  it("carries 200 concurrent calls of mixed kinds on one tunnel", async () => {
    const { tunnel } = await forwardFixture(cleanup);
    const calls: Array<Promise<string>> = [];
    for (let i = 0; i < 200; i++) {
      const payload = pattern(100 + i * 37, i);
      const check = (p: Uint8Array) => (Buffer.compare(p, payload) === 0 ? "ok" : `payload mismatch in call ${i}`);
      switch (i % 4) {
        case 0:
          calls.push(unaryCall(tunnel, TestService.method.unary, { payload }).then((r) => check(r.payload)));
          break;
        case 1:
          calls.push(
            (async () => {
              const got: string[] = [];
              for await (const r of serverStreamCall(tunnel, TestService.method.serverStream, { payload, count: 3 }))
                got.push(check(r.payload));
              return got.length === 3 && got.every((g) => g === "ok") ? "ok" : `server stream ${i}: ${got}`;
            })(),
          );
          break;
        case 2:
          calls.push(
            clientStreamCall(tunnel, TestService.method.clientStream, fromArray([{ payload: pattern(5) }, { payload }])).then((r) =>
              r.count === 2 ? check(r.payload) : `count ${r.count}`,
            ),
          );
          break;
        default:
          calls.push(
            (async () => {
              const counts: number[] = [];
              for await (const r of bidiStreamCall(
                tunnel,
                TestService.method.bidiStream,
                fromArray([{ payload }, { payload }, { payload }]),
              )) {
                if (check(r.payload) !== "ok") return `bidi ${i} payload`;
                counts.push(r.count);
              }
              return counts.join() === "1,2,3" ? "ok" : `bidi ${i}: ${counts}`;
            })(),
          );
      }
    }
    const results = await Promise.all(calls);
    expect(results.filter((r) => r !== "ok")).toEqual([]);
    expect(tunnel.activeCalls).toBe(0);
  });
});
