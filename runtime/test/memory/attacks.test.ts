// The findings of issue #13, replayed against a tunnel server in its own
// process (attack-server.mjs). Each attack asserts: the server survives, the
// memory it holds stays under the configured budget, another client's
// tunnel keeps answering, and memory returns to its baseline once the
// attacker is gone. Budgets are small to keep the tests fast; the last test
// runs the worst attack against the defaults.
import { create, toBinary } from "@bufbuild/protobuf";
import { MessageSchema } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { Code } from "../../src/index.js";
import { ProtocolRevision } from "../../src/gen/grpctunnel/v1/tunnel_pb.js";
import { c2s } from "../support/frames.js";
import {
  type AttackServer,
  type AttackServerConfig,
  attackSetup,
  Bystander,
  held,
  MiB,
  type Measure,
  runCleanups,
  stalledWhileServing,
} from "./attack-harness.js";
import { CLIENT_STREAM, heavyMetadata, newStream, UNARY } from "./vectors.js";

afterEach(runCleanups);

/** The server under attack, with one attacker; `attackerGone` disconnects it and checks the return to the baseline. */
async function setup(config: AttackServerConfig) {
  const attack = await attackSetup(config);
  return { ...attack, attacker: attack.connect(), attackerGone: attack.attackersGone };
}

/**
 * What the server holds during an attack that no budget can charge: the
 * code of the paths the attack is first to run (bytecode, feedback,
 * optimized code, all on the heap) and the heap's fragmentation. A fixed
 * amount, whatever the attack sends; the same slack the return to the
 * baseline allows.
 */
const UNCHARGED_SLACK = 4 * MiB;

/** During the attack: no more charged than `budget`, and no more really held either (but for the slack above). */
function expectWithinBudget(during: Measure, baseline: Measure, budget: number): void {
  expect(during.charged - baseline.charged).toBeLessThanOrEqual(budget);
  expect(held(during) - held(baseline)).toBeLessThan(budget + UNCHARGED_SLACK);
}

/** Waits until grpc-js has read `frames` more frames than at `since`; returns the measure then. */
async function framesReadAtLeast(server: AttackServer, since: Measure, frames: number): Promise<Measure> {
  while ((await server.framesRead()) - since.framesRead < frames) {
    await new Promise((resolve) => setTimeout(resolve, 50)); // polling interval
  }
  return server.measure();
}

describe("attacks on a tunnel server (issue #13)", () => {
  it("finding 1: idle streams with heavy metadata, over several tunnels of one connection", async () => {
    const budget = 32 * MiB;
    const { server, bystander, baseline, attacker, attackerGone } = await setup({
      limits: { maxConnectionMemoryBytes: budget, maxTunnelMemoryBytes: 16 * MiB, maxTunnelsPerConnection: 3, idleStreamTimeoutMs: 3_000 },
    });
    const tunnels = [attacker.open(), attacker.open(), attacker.open()];
    const refusedTunnel = attacker.open();
    expect(await refusedTunnel.status).toBe(Code.RESOURCE_EXHAUSTED); // a fourth tunnel on the connection
    const metadata = heavyMetadata(64 * 1024);
    const perTunnel = 150; // ~3.6 MB of frames each; what they would hold is ~5x the budget
    for (const tunnel of tunnels) {
      tunnel.startReading();
      for (let i = 1; i <= perTunnel; i++) tunnel.send(newStream(BigInt(i), UNARY, metadata));
    }
    const during = await framesReadAtLeast(server, baseline, 3 * perTunnel);
    await bystander.ping();
    expectWithinBudget(during, baseline, budget);
    // Streams over the budget were refused; the others expire as idle.
    for (const tunnel of tunnels) {
      await tunnel.waitUntil(() => tunnel.closes.length === perTunnel);
      const codes = new Set(tunnel.closes.map((c) => c.code));
      expect(codes).toEqual(new Set([Code.RESOURCE_EXHAUSTED, Code.DEADLINE_EXCEEDED]));
    }
    await bystander.ping();
    await attackerGone();
  }, 60_000);

  it("finding 2: a client that never reads while the server answers: the server stops reading its tunnel", async () => {
    const budget = 32 * MiB;
    const { server, bystander, baseline, attacker, attackerGone } = await setup({
      limits: { maxConnectionMemoryBytes: budget, maxPendingControlBytes: 256 * 1024 },
    });
    const tunnel = attacker.open();
    // Each NewStream names a method that does not exist, with a 4 KiB name
    // the refusal used to echo in full.
    const name = `x/${"y".repeat(4096)}`;
    const sent = 12_000; // ~50 MB
    for (let i = 1; i <= sent; i++) tunnel.send(newStream(BigInt(i), name));
    // grpc-js really stops reading: the attacker's writes stall (nothing
    // more leaves its socket) while the server goes on answering someone else.
    const during = await stalledWhileServing(server, attacker, bystander);
    expect(attacker.bytesWritten).toBeLessThan(8 * MiB); // of the ~50 MB it has queued
    expect(during.framesRead - baseline.framesRead).toBeLessThan(2_000);
    expect(during.charged - baseline.charged).toBeLessThan(budget);
    expect(held(during) - held(baseline)).toBeLessThan(8 * MiB);
    // Once the attacker reads, the server reads on and refuses every stream,
    // echoing only the start of the name.
    tunnel.startReading();
    await tunnel.waitUntil(() => tunnel.closes.length === sent);
    expect(new Set(tunnel.closes.map((c) => c.code))).toEqual(new Set([Code.UNIMPLEMENTED]));
    expect(Math.max(...tunnel.closes.map((c) => c.message.length))).toBeLessThan(200);
    await attackerGone();
  }, 60_000);

  it("finding 3: streams whose handler stops reading, revision 0 (no window) and revision 1 (many windows)", async () => {
    const budget = 32 * MiB;
    const { server, bystander, baseline, attacker, attackerGone } = await setup({
      limits: { maxConnectionMemoryBytes: budget, maxTunnelMemoryBytes: 16 * MiB },
    });
    const chunk = new Uint8Array(16_384);
    // Revision 0: 40 streams of 1 MiB each (the per-stream limit allows 8 MiB).
    const rev0 = attacker.open();
    // Revision 1: 400 streams that each fill their 64 KiB window.
    const rev1 = attacker.open();
    for (const tunnel of [rev0, rev1]) tunnel.startReading();
    let frames = 0;
    for (let id = 1n; id <= 40n; id++) {
      rev0.send(newStream(id, CLIENT_STREAM, undefined, ProtocolRevision.REVISION_ZERO));
      for (let i = 0; i < 64; i++) rev0.send(c2s.message(id, chunk.length, chunk));
      frames += 65;
    }
    for (let id = 1n; id <= 400n; id++) {
      rev1.send(newStream(id, CLIENT_STREAM));
      for (let i = 0; i < 4; i++) rev1.send(c2s.message(id, chunk.length, chunk));
      frames += 5;
    }
    const during = await framesReadAtLeast(server, baseline, frames);
    await bystander.ping();
    expectWithinBudget(during, baseline, budget);
    // Streams that would have gone over a budget failed; the rest wait for their handler.
    for (const [tunnel, streams] of [
      [rev0, 40],
      [rev1, 400],
    ] as const) {
      await tunnel.waitUntil(() => tunnel.closes.length > 0);
      expect(tunnel.closes.length).toBeLessThan(streams);
      for (const close of tunnel.closes) {
        expect(close).toMatchObject({
          code: Code.RESOURCE_EXHAUSTED,
          message: expect.stringMatching(/^memory limit max(Tunnel|Connection)MemoryBytes/),
        });
      }
    }
    await attackerGone();
  }, 60_000);

  it("finding 3, small chunks: each keeps a buffer of grpc-js's pool alive, and is charged for it", async () => {
    const budget = 8 * MiB;
    const { server, bystander, baseline, attacker, attackerGone } = await setup({ limits: { maxConnectionMemoryBytes: budget } });
    const tunnel = attacker.open();
    tunnel.startReading();
    tunnel.send(newStream(1n, CLIENT_STREAM, undefined, ProtocolRevision.REVISION_ZERO)); // its handler never reads
    tunnel.send(newStream(2n, "x/Missing")); // refused: frames for it are dropped
    // One-byte messages for stream 1, each followed by frames that are
    // dropped but fill the rest of the 8 KiB pool slab grpc-js decodes into:
    // every queued byte keeps a slab alive (~24 MB of them without a budget).
    const junk = new Uint8Array(3_900);
    let frames = 2;
    for (let i = 0; i < 3_000; i++) {
      tunnel.send(c2s.message(1n, 1, new Uint8Array([i & 0xff])));
      tunnel.send(c2s.more(2n, junk));
      tunnel.send(c2s.more(2n, junk));
      frames += 3;
    }
    const during = await framesReadAtLeast(server, baseline, frames);
    await bystander.ping();
    expectWithinBudget(during, baseline, budget);
    await tunnel.waitUntil(() => tunnel.closes.some((c) => c.streamId === 1n));
    expect(tunnel.closes.find((c) => c.streamId === 1n)).toMatchObject({
      code: Code.RESOURCE_EXHAUSTED,
      message: expect.stringMatching(/^memory limit maxConnectionMemoryBytes/),
    });
    await attackerGone();
  }, 60_000);

  it("finding 4: envelopes that declare 4 MiB and carry one byte reserve nothing", async () => {
    const budget = 32 * MiB;
    const { server, bystander, baseline, attacker, attackerGone } = await setup({ limits: { maxConnectionMemoryBytes: budget } });
    const tunnel = attacker.open();
    const streams = 3_000; // the old assembler reserved 4 MiB for each: 12 GB
    for (let id = 1n; id <= BigInt(streams); id++) {
      tunnel.send(newStream(id, UNARY));
      tunnel.send(c2s.message(id, 4 * MiB, new Uint8Array([1])));
    }
    const during = await framesReadAtLeast(server, baseline, 2 * streams);
    await bystander.ping();
    expect(during.arrayBuffers - baseline.arrayBuffers).toBeLessThan(8 * MiB);
    expect(held(during) - held(baseline)).toBeLessThan(budget);
    expect(during.charged - baseline.charged).toBeLessThanOrEqual(budget);
    await attackerGone();
  }, 60_000);

  it("finding 5: handlers that throw odd values, reject, write after end() or answer twice end their calls; the process lives on", async () => {
    const { server, bystander, attackerGone } = await setup({});
    // A well-formed client calling handlers that misbehave.
    const faulty = await Bystander.connect(server.address);
    const calls: Array<Promise<number | undefined>> = [];
    for (let i = 0; i < 50; i++) {
      for (const fault of [1, 2, 3])
        calls.push(
          callOnce(
            faulty,
            "/grpchantesting.TestService/ServerStream",
            toBinary(MessageSchema, create(MessageSchema, { payload: new Uint8Array([fault]) })),
          ),
        );
      for (const method of ["Rejects", "WriteAfterEnd", "Twice"])
        calls.push(callOnce(faulty, `/faults.Faults/${method}`, new Uint8Array([1])));
    }
    const codes = await Promise.all(calls);
    expect(new Set(codes)).toEqual(new Set([Code.UNKNOWN, undefined])); // "Twice": its first answer, OK, wins
    expect(codes.filter((code) => code === undefined)).toHaveLength(50);
    await bystander.ping();
    faulty.close();
    await attackerGone();
  }, 60_000);

  it("with the default limits, the worst attack (finding 1) stays under 256 MiB held and 512 MiB of RSS growth", async () => {
    const { server, bystander, baseline, attacker, attackerGone } = await setup({});
    const tunnels = [attacker.open(), attacker.open(), attacker.open(), attacker.open()];
    const metadata = heavyMetadata(64 * 1024); // the default maxMetadataBytes
    const perTunnel = 400; // what they would hold is ~1.6x the default connection budget
    for (const tunnel of tunnels) {
      tunnel.startReading();
      for (let i = 1; i <= perTunnel; i++) tunnel.send(newStream(BigInt(i), UNARY, metadata));
    }
    const during = await framesReadAtLeast(server, baseline, tunnels.length * perTunnel);
    await bystander.ping();
    const refused = tunnels.reduce((n, tunnel) => n + tunnel.closes.length, 0);
    expect(refused).toBeGreaterThan(0); // the budget was reached
    expectWithinBudget(during, baseline, 256 * MiB);
    expect(during.maxRss - baseline.rss).toBeLessThan(512 * MiB);
    await attackerGone();
  }, 120_000);
});

/** One call in bytes: one request, half-close, read all; resolves with its status code (undefined for OK). */
async function callOnce(client: Bystander, method: string, request: Uint8Array): Promise<number | undefined> {
  const stream = client.tunnel.startCall(method);
  await stream.send(request);
  stream.closeSend();
  try {
    while ((await stream.read()) !== undefined) {
      // responses are not looked at
    }
  } catch {
    // the status is in `done`
  }
  return (await stream.done).error?.code;
}
