import { getEventListeners } from "node:events";
import fc from "fast-check";
import { Metadata } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TestService, testServiceImpl } from "@protoc-gen-tunnel/interop";
import { ServiceRegistry } from "../../src/api/serve/index.js";
import { Code } from "../../src/code.js";
import { TunnelClientEngine } from "../../src/engine/client-engine.js";
import { resolveLimits } from "../../src/engine/limits.js";
import { TunnelServerEngine, type StreamHandler } from "../../src/engine/server-engine.js";
import { TunnelError } from "../../src/errors.js";
import type { ClientToServer, ProtocolRevision, ServerToClient } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { c2s, emptyClientFrame, s2c } from "../support/frames.js";
import { MemoryConn } from "../support/memory-conn.js";
import { fuzzParameters, fuzzTimeout } from "./fuzz-config.js";

// Timers are faked so that the property can count what is left behind.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
});
afterEach(() => {
  vi.useRealTimers();
});

const idArb = fc.integer({ min: -1, max: 6 }).map(BigInt);
const bytesArb = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 16_000, maxLength: 17_000 }));
const methodArb = fc.constantFrom(
  "/grpchantesting.TestService/Unary",
  "/grpchantesting.TestService/ServerStream",
  "/grpchantesting.TestService/ClientStream",
  "/grpchantesting.TestService/BidiStream",
  "/grpchantesting.TestService/Missing",
  "",
  "no-slash",
);
const headersArb = fc.constantFrom<Record<string, string>>(
  {},
  { "grpc-timeout": "5m" },
  { "grpc-timeout": "2S" },
  { "grpc-timeout": "x" },
  { "Bad Key": "v" },
);

const clientFrameArb: fc.Arbitrary<ClientToServer> = fc.oneof(
  fc
    .tuple(idArb, methodArb, fc.constantFrom(0, 1, 9), headersArb)
    .map(([id, m, rev, md]) => c2s.newStream(id, m, rev as ProtocolRevision, md)),
  fc.tuple(idArb, fc.integer({ min: 0, max: 40_000 }), bytesArb).map(([id, size, data]) => c2s.message(id, size, data)),
  fc.tuple(idArb, bytesArb).map(([id, data]) => c2s.more(id, data)),
  idArb.map((id) => c2s.halfClose(id)),
  idArb.map((id) => c2s.cancel(id)),
  fc.tuple(idArb, fc.integer({ min: 0, max: 0xffff_ffff })).map(([id, n]) => c2s.windowUpdate(id, n)),
  idArb.map((id) => emptyClientFrame(id)),
);

const serverFrameArb: fc.Arbitrary<ServerToClient> = fc.oneof(
  fc.tuple(idArb, fc.array(fc.constantFrom(0, 1, 7), { maxLength: 3 })).map(([id, revs]) => s2c.settings(id, revs)),
  fc.tuple(idArb, fc.constantFrom<Record<string, string>>({}, { h: "v" }, { "BAD KEY": "v" })).map(([id, md]) => s2c.headers(id, md)),
  fc.tuple(idArb, fc.integer({ min: 0, max: 40_000 }), bytesArb).map(([id, size, data]) => s2c.message(id, size, data)),
  fc.tuple(idArb, bytesArb).map(([id, data]) => s2c.more(id, data)),
  fc.tuple(idArb, fc.constantFrom(0, Code.NOT_FOUND, Code.INTERNAL)).map(([id, code]) => s2c.close(id, code, "closed")),
  fc.tuple(idArb, fc.integer({ min: 0, max: 0xffff_ffff })).map(([id, n]) => s2c.windowUpdate(id, n)),
  idArb.map((id) => s2c.empty(id)),
);

const limits = resolveLimits({});

describe("property: random frame sequences", () => {
  it(
    "tunnel-server engine: never throws, ends every call, leaves no timer behind",
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(clientFrameArb, { maxLength: 40 }), fc.boolean(), async (frames, flowControl) => {
          const registry = new ServiceRegistry();
          registry.registerService(TestService, testServiceImpl);
          const running: Array<Promise<void>> = [];
          const track = (handler: StreamHandler | undefined): StreamHandler | undefined =>
            handler &&
            ((stream) => {
              const run = handler(stream);
              running.push(run.catch(() => {}));
              return run;
            });
          const conn = new MemoryConn<ServerToClient>();
          const engine = new TunnelServerEngine(conn, {
            flowControl,
            peerAdvertised: true,
            tunnelMetadata: new Metadata(),
            peer: "test",
            limits,
            lookup: (m) => track(registry.lookup(m)),
            isShuttingDown: () => false,
          });
          engine.start();
          for (const frame of frames) {
            expect(() => engine.receive(frame)).not.toThrow();
          }
          engine.transportEnded(new TunnelError(Code.UNAVAILABLE, "test over"));
          await Promise.all(running);
          expect(engine.activeStreams).toBe(0);
          expect(vi.getTimerCount()).toBe(0);
        }),
        fuzzParameters(300),
      );
    },
    fuzzTimeout,
  );

  it(
    "tunnel-client engine: never throws, ends every call, leaves no timer or abort listener behind",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(serverFrameArb, { maxLength: 40 }),
          fc.integer({ min: 0, max: 4 }),
          fc.boolean(),
          async (frames, calls, negotiated) => {
            const conn = new MemoryConn<ClientToServer>();
            const engine = new TunnelClientEngine(conn, { flowControl: true, expectSettings: negotiated, limits });
            const aborts: AbortController[] = [];
            const streams = [];
            if (negotiated) {
              engine.receive(s2c.settings(-1n, [0, 1]));
            }
            for (let i = 0; i < calls; i++) {
              const abort = new AbortController();
              aborts.push(abort);
              streams.push(engine.openStream("/test.S/M", new Metadata(), { signal: abort.signal, deadline: Date.now() + 10_000 }));
            }
            for (const frame of frames) {
              expect(() => engine.receive(frame)).not.toThrow();
            }
            engine.transportEnded();
            const outcomes = await Promise.all(streams.map((s) => s.done));
            expect(outcomes).toHaveLength(calls);
            expect(engine.activeStreams).toBe(0);
            expect(vi.getTimerCount()).toBe(0);
            for (const abort of aborts) {
              expect(getEventListeners(abort.signal, "abort")).toHaveLength(0);
            }
          },
        ),
        fuzzParameters(300),
      );
    },
    fuzzTimeout,
  );
});
