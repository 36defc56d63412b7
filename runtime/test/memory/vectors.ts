// The attack vectors of issue #25 as functions of a raw HTTP/2 connection,
// for the tests of each finding and for the combined attack.
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { MessageSchema } from "@protoc-gen-tunnel/interop";
import { MetadataSchema, ProtocolRevision } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { encodeClientToServer } from "../../src/protocol/frame-codec.js";
import { c2s } from "../support/frames.js";
import type { H2Connection, H2Tunnel } from "../support/h2-tunnel.js";
import { MiB } from "./attack-harness.js";

export const UNARY = "grpchantesting.TestService/Unary";
export const CLIENT_STREAM = "grpchantesting.TestService/ClientStream";

/** A new_stream frame with proto `requestHeaders` (frames.ts builds them from plain values). */
export function newStream(id: bigint, method: string, requestHeaders = create(MetadataSchema), revision = ProtocolRevision.REVISION_ONE) {
  const frame = c2s.newStream(id, method, revision);
  if (frame.frame.case === "newStream") frame.frame.value.requestHeaders = requestHeaders;
  return frame;
}

/** A unary call whose answer carries ~30 KB of response headers and ~30 KB of trailers. */
export function heavyAnswer(tunnel: H2Tunnel, id: bigint): void {
  const big = new TextEncoder().encode("h".repeat(30_000));
  const request = toBinary(MessageSchema, create(MessageSchema, { headers: { "x-h": big }, trailers: { "x-t": big } }));
  tunnel.send(newStream(id, UNARY));
  tunnel.send(c2s.message(id, request.length, request));
  tunnel.send(c2s.halfClose(id));
}

/** Calls whose answers nobody reads, until the server pauses reading the tunnel (over 1 MiB of control frames). */
export const CALLS_TO_PAUSE = 24;

/**
 * Finding 1: `count` tunnels paused by unread heavy answers, each then
 * sending `messages` messages to a client stream whose handler never reads:
 * 4 MiB of zeros gzipped to ~4 KB each with `compressed`, else 1 MiB each.
 */
export function pausedTunnels(attacker: H2Connection, count: number, messages: number, compressed: boolean): H2Tunnel[] {
  const id = BigInt(CALLS_TO_PAUSE + 1);
  const message = compressed
    ? gzipSync(encodeClientToServer(c2s.message(id, 4 * MiB, new Uint8Array(4 * MiB))))
    : encodeClientToServer(c2s.message(id, 16 * MiB, new Uint8Array(MiB)));
  const tunnels = Array.from({ length: count }, () => attacker.open(undefined, compressed ? { "grpc-encoding": "gzip" } : {}));
  for (const tunnel of tunnels) {
    for (let i = 1; i <= CALLS_TO_PAUSE; i++) heavyAnswer(tunnel, BigInt(i));
    tunnel.send(newStream(id, CLIENT_STREAM));
    for (let i = 0; i < messages; i++) tunnel.sendMessage(message, compressed);
  }
  return tunnels;
}

/** Finding 4: `count` idle tunnels whose RPC carries two metadata values of `valueBytes` each. */
export function heavyMetadataTunnels(attacker: H2Connection, count: number, valueBytes: number): H2Tunnel[] {
  const value = "m".repeat(valueBytes);
  return Array.from({ length: count }, () => attacker.open(undefined, { "x-a": value, "x-b": value }));
}

/** Request metadata just under `maxMetadataBytes` (HTTP/2 counting) as many one-byte entries. */
export function heavyMetadata(maxMetadataBytes: number) {
  const md: Record<string, { val: string[] }> = {};
  let size = 0;
  for (let i = 0; ; i++) {
    const key = `k${i}`;
    if (size + key.length + 1 + 32 > maxMetadataBytes) break;
    md[key] = { val: ["v"] };
    size += key.length + 1 + 32;
  }
  return create(MetadataSchema, { md });
}

/**
 * Finding 5 (and #13's first): `count` idle unary streams with metadata of
 * the default limit, on one tunnel that reads its answers; past the budget
 * they are refused.
 */
export function heavyStreams(attacker: H2Connection, count: number): H2Tunnel {
  const tunnel = attacker.open();
  tunnel.startReading();
  const metadata = heavyMetadata(64 * 1024);
  for (let i = 1; i <= count; i++) tunnel.send(newStream(BigInt(i), UNARY, metadata));
  return tunnel;
}
