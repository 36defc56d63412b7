// The findings of issue #25 on the transport, replayed against a tunnel
// server in its own process (attack-server.mjs) with default settings
// unless a test says otherwise. Each asserts: the server survives, what it
// holds stays within its budgets, another client's tunnel keeps answering,
// and memory returns to its baseline once the attacker is gone.
import { create, toBinary } from "@bufbuild/protobuf";
import { MessageSchema } from "@protoc-gen-tunnel/interop";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { Code } from "../../src/index.js";
import { ClientToServerSchema, NewStreamSchema, ProtocolRevision } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { encodeClientToServer } from "../../src/protocol/frame-codec.js";
import { c2s } from "../support/frames.js";
import type { H2Tunnel } from "../support/h2-tunnel.js";
import { attackSetup as setup, held, MiB, runCleanups, stalledWhileServing } from "./attack-harness.js";

afterEach(runCleanups);

const UNARY = "grpchantesting.TestService/Unary";
const CLIENT_STREAM = "grpchantesting.TestService/ClientStream";

function newStream(id: bigint, method: string) {
  return create(ClientToServerSchema, {
    streamId: id,
    frame: {
      case: "newStream",
      value: create(NewStreamSchema, { methodName: method, initialWindowSize: 65_536, protocolRevision: ProtocolRevision.REVISION_ONE }),
    },
  });
}

/** A unary call whose answer carries ~30 KB of response headers and ~30 KB of trailers. */
function heavyAnswer(tunnel: H2Tunnel, id: bigint): void {
  const big = new TextEncoder().encode("h".repeat(30_000));
  const request = toBinary(MessageSchema, create(MessageSchema, { headers: { "x-h": big }, trailers: { "x-t": big } }));
  tunnel.send(newStream(id, UNARY));
  tunnel.send(c2s.message(id, request.length, request));
  tunnel.send(c2s.halfClose(id));
}

/** Calls whose answers nobody reads, until the server pauses reading the tunnel (over 1 MiB of control frames). */
const CALLS_TO_PAUSE = 24;

describe("attacks on the transport (issue #25)", () => {
  it("finding 1: compressed messages while paused: compressed tunnel RPCs are refused before any is read", async () => {
    const { server, bystander, baseline, connect, attackersGone } = await setup();
    const attacker = connect();
    const id = BigInt(CALLS_TO_PAUSE + 1);
    const bomb = gzipSync(encodeClientToServer(c2s.message(id, 4 * MiB, new Uint8Array(4 * MiB)))); // ~4 KB
    const tunnels = Array.from({ length: 24 }, () => attacker.open(undefined, { "grpc-encoding": "gzip" }));
    for (const tunnel of tunnels) {
      for (let i = 1; i <= CALLS_TO_PAUSE; i++) heavyAnswer(tunnel, BigInt(i));
      tunnel.send(newStream(id, CLIENT_STREAM));
      for (let i = 0; i < 24; i++) tunnel.sendMessage(bomb, true);
    }
    const statuses = await Promise.all(tunnels.map((tunnel) => tunnel.status));
    expect(new Set(statuses)).toEqual(new Set([Code.UNIMPLEMENTED]));
    await bystander.ping();
    const during = await server.measure();
    expect(during.charged).toBe(baseline.charged);
    expect(during.maxRss - baseline.rss).toBeLessThan(64 * MiB); // +1,910 MiB before
    await attackersGone();
  }, 60_000);

  it("finding 1, uncompressed: a paused tunnel stops grpc-js reading; the peer stalls within the stream's window", async () => {
    const { server, bystander, baseline, connect, attackersGone } = await setup();
    const attacker = connect();
    const frame = new Uint8Array(MiB);
    const tunnels = Array.from({ length: 24 }, () => attacker.open());
    let queued = 0;
    for (const tunnel of tunnels) {
      for (let i = 1; i <= CALLS_TO_PAUSE; i++) heavyAnswer(tunnel, BigInt(i));
      // A client stream whose handler never reads: 16 frames of 1 MiB each,
      // which grpc-js used to read ahead (16 decoded messages per call).
      const id = BigInt(CALLS_TO_PAUSE + 1);
      tunnel.send(newStream(id, CLIENT_STREAM));
      for (let i = 0; i < 16; i++) tunnel.send(c2s.message(id, 16 * MiB, frame));
      queued += 16 * MiB;
    }
    const during = await stalledWhileServing(server, attacker, bystander);
    // What left the attacker: its calls (~1.5 MB a tunnel), and of the 1 MiB
    // frames at most the one grpc-js was reading and the stream's window.
    expect(attacker.bytesWritten).toBeLessThan(tunnels.length * 3 * MiB);
    expect(attacker.bytesWritten).toBeLessThan(queued / 4);
    expect(during.charged - baseline.charged).toBeLessThanOrEqual(256 * MiB);
    expect(held(during) - held(baseline)).toBeLessThan(during.charged - baseline.charged + 16 * MiB);
    expect(during.maxRss - baseline.rss).toBeLessThan(256 * MiB + 64 * MiB);
    await attackersGone();
  }, 120_000);
});
