import fc from "fast-check";
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ServiceRegistry } from "../../src/api/serve/index.js";
import { TunnelClientEngine } from "../../src/engine/client-engine.js";
import { resolveLimits } from "../../src/engine/limits.js";
import { TunnelServerEngine } from "../../src/engine/server-engine.js";
import { ProtocolRevision, type ClientToServer, type ServerToClient } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { c2s, s2c } from "../support/frames.js";
import { MemoryConn } from "../support/memory-conn.js";
import { fuzzParameters, fuzzTimeout } from "./fuzz-config.js";

/** Messages of one stream, and how each is cut into chunks. */
const streamArb = fc.array(
  fc.record({
    message: fc.uint8Array({ minLength: 0, maxLength: 40_000 }),
    cuts: fc.array(fc.integer({ min: 1, max: 16_384 }), { maxLength: 8 }),
  }),
  { minLength: 0, maxLength: 6 },
);

/** Splits a message into chunks of the given sizes (the rest in 16 KiB pieces). */
function chunksOf(message: Uint8Array, cuts: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const cut of cuts) {
    if (offset >= message.length) break;
    chunks.push(message.subarray(offset, offset + cut));
    offset += cut;
  }
  while (offset < message.length) {
    chunks.push(message.subarray(offset, offset + 16_384));
    offset += 16_384;
  }
  return chunks.length === 0 ? [message.subarray(0, 0)] : chunks;
}

/** Per-stream frame lists merged in a random order that keeps each stream's own order. */
function interleave<T>(perStream: T[][], picks: number[]): T[] {
  const queues = perStream.map((frames) => [...frames]);
  const merged: T[] = [];
  let pick = 0;
  for (;;) {
    const live = queues.filter((q) => q.length > 0);
    if (live.length === 0) return merged;
    const choice = picks.length === 0 ? 0 : picks[pick++ % picks.length];
    merged.push(live[choice % live.length].shift()!);
  }
}

const bigLimits = resolveLimits({ maxReceiveMessageBytes: 64 * 1024, maxBufferedBytesPerStream: 64 * 1024 * 1024 });

describe("property: interleaved chunked messages reassemble exactly", () => {
  it(
    "tunnel-server engine, requests of many streams",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(streamArb, { minLength: 1, maxLength: 6 }),
          fc.array(fc.nat(), { maxLength: 64 }),
          async (streams, picks) => {
            const received = new Map<bigint, Uint8Array[]>();
            const done: Array<Promise<void>> = [];
            const registry = new ServiceRegistry();
            registry.registerHandler("test.Sink", "Collect", (stream) => {
              const work = (async () => {
                const messages: Uint8Array[] = [];
                for (let m = await stream.read(); m !== undefined; m = await stream.read()) messages.push(new Uint8Array(m));
                received.set(stream.id, messages);
              })();
              done.push(work);
              return work;
            });
            const conn = new MemoryConn<ServerToClient>();
            const engine = new TunnelServerEngine(conn, {
              flowControl: false,
              peerAdvertised: false,
              tunnelMetadata: new Metadata(),
              peer: "test",
              limits: bigLimits,
              lookup: (m) => registry.lookup(m),
              isShuttingDown: () => false,
            });
            const perStream: ClientToServer[][] = streams.map((messages, i) => {
              const id = BigInt(i + 1);
              const frames: ClientToServer[] = [];
              for (const { message, cuts } of messages) {
                const [first, ...rest] = chunksOf(message, cuts);
                frames.push(c2s.message(id, message.length, first), ...rest.map((chunk) => c2s.more(id, chunk)));
              }
              frames.push(c2s.halfClose(id));
              return frames;
            });
            // NewStream frames go first, in ID order, as the protocol requires.
            for (let i = 0; i < streams.length; i++)
              engine.receive(c2s.newStream(BigInt(i + 1), "/test.Sink/Collect", ProtocolRevision.REVISION_ZERO));
            for (const frame of interleave(perStream, picks)) engine.receive(frame);
            await Promise.all(done);
            expect(conn.abortedWith).toBeUndefined();
            streams.forEach((messages, i) => {
              expect(received.get(BigInt(i + 1))).toEqual(messages.map((m) => new Uint8Array(m.message)));
            });
          },
        ),
        fuzzParameters(60),
      );
    },
    fuzzTimeout,
  );

  it(
    "tunnel-client engine, responses of many streams",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(streamArb, { minLength: 1, maxLength: 6 }),
          fc.array(fc.nat(), { maxLength: 64 }),
          async (streams, picks) => {
            const conn = new MemoryConn<ClientToServer>();
            const engine = new TunnelClientEngine(conn, { flowControl: false, expectSettings: false, limits: bigLimits });
            const calls = streams.map(() => engine.openStream("/test.Source/Emit", new Metadata()));
            const perStream: ServerToClient[][] = streams.map((messages, i) => {
              const id = BigInt(i + 1);
              const frames: ServerToClient[] = [s2c.headers(id)];
              for (const { message, cuts } of messages) {
                const [first, ...rest] = chunksOf(message, cuts);
                frames.push(s2c.message(id, message.length, first), ...rest.map((chunk) => s2c.more(id, chunk)));
              }
              frames.push(s2c.close(id));
              return frames;
            });
            for (const frame of interleave(perStream, picks)) engine.receive(frame);
            for (const [i, call] of calls.entries()) {
              const messages: Uint8Array[] = [];
              for (let m = await call.read(); m !== undefined; m = await call.read()) messages.push(new Uint8Array(m));
              expect(messages).toEqual(streams[i].map((m) => new Uint8Array(m.message)));
            }
            expect(conn.abortedWith).toBeUndefined();
          },
        ),
        fuzzParameters(60),
      );
    },
    fuzzTimeout,
  );
});
