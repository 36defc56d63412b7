// The findings of issue #25 on the transport, replayed against a tunnel
// server in its own process (attack-server.mjs) with default settings
// unless a test says otherwise. Each asserts: the server survives, what it
// holds stays within its budgets, another client's tunnel keeps answering,
// and memory returns to its baseline once the attacker is gone.
import { afterEach, describe, expect, it } from "vitest";
import { Code } from "../../src/index.js";
import { attackSetup as setup, held, MiB, runCleanups, stalledWhileServing } from "./attack-harness.js";
import { pausedTunnels } from "./vectors.js";

afterEach(runCleanups);

describe("attacks on the transport (issue #25)", () => {
  it("finding 1: compressed messages while paused: compressed tunnel RPCs are refused before any is read", async () => {
    const { server, bystander, baseline, connect, attackersGone } = await setup();
    // 24 tunnels, each with 24 messages of 4 MiB of zeros gzipped to ~4 KB.
    const tunnels = pausedTunnels(connect(), 24, 24, true);
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
    // Each to a client stream whose handler never reads: 16 messages of
    // 1 MiB, which grpc-js used to read ahead (16 decoded messages a call).
    const tunnels = pausedTunnels(attacker, 24, 16, false);
    const queued = tunnels.length * 16 * MiB;
    const during = await stalledWhileServing(server, attacker, bystander);
    // What left the attacker: its calls (~1.5 MB a tunnel), and of the 1 MiB
    // frames at most the one grpc-js was reading and the stream's window.
    expect(attacker.bytesWritten).toBeLessThan(tunnels.length * 3 * MiB);
    expect(attacker.bytesWritten).toBeLessThan(queued / 4);
    expect(during.charged - baseline.charged).toBeLessThanOrEqual(256 * MiB);
    // What is held beyond the charge is the JS side of the charged answers
    // (decoded metadata, call objects): measured +14.5 MB on Node 20 and
    // +17.9 MB on Node 24 for these 24 tunnels; an unbounded read-ahead
    // would add up to 384 MiB.
    expect(held(during) - held(baseline)).toBeLessThan(during.charged - baseline.charged + 24 * MiB);
    expect(during.maxRss - baseline.rss).toBeLessThan(256 * MiB + 64 * MiB);
    await attackersGone();
  }, 120_000);

  it("frames that never complete: grpc-js holds each as it arrives, and it is charged; past the budget the tunnel ends", async () => {
    const budget = 32 * MiB;
    const { server, bystander, baseline, connect, attackersGone } = await setup({ limits: { maxConnectionMemoryBytes: budget } });
    const attacker = connect();
    // 3 MiB of a 4 MiB frame on each of 24 tunnels: 72 MiB, which grpc-js
    // would hold uncharged until each frame is whole.
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(4 * MiB - 64, 1);
    const part = Buffer.concat([prefix, Buffer.alloc(3 * MiB)]);
    const tunnels = Array.from({ length: 24 }, () => attacker.open());
    for (const tunnel of tunnels) {
      tunnel.startReading();
      tunnel.stream.write(part);
    }
    const during = await stalledWhileServing(server, attacker, bystander);
    expect(during.charged - baseline.charged).toBeLessThanOrEqual(budget);
    expect(held(during) - held(baseline)).toBeLessThan(budget + 8 * MiB);
    // The tunnels whose frame did not fit ended with a status saying why (the others wait for the rest of theirs).
    const ended = tunnels.filter((tunnel) => tunnel.statusMessage !== "");
    expect(ended.length).toBeGreaterThan(12);
    expect(new Set(await Promise.all(ended.map((tunnel) => tunnel.status)))).toEqual(new Set([Code.RESOURCE_EXHAUSTED]));
    expect(ended[0]!.statusMessage).toMatch(/^memory limit maxConnectionMemoryBytes/);
    await attackersGone();
  }, 120_000);
});
