// Issue #25, findings 4 and 7: what a tunnel RPC itself holds is charged
// to the budgets, and budgets can be kept per client behind a proxy that
// puts many clients on one connection. Against a tunnel server in its own
// process (attack-server.mjs), as in attacks.test.ts.
import { afterEach, describe, expect, it } from "vitest";
import { Code } from "../../src/index.js";
import type { H2Tunnel } from "../support/h2-tunnel.js";
import { attackSetup, held, MiB, runCleanups } from "./attack-harness.js";

afterEach(runCleanups);

/** The tunnels that were admitted, once each was admitted or refused. */
async function admittedOf(tunnels: H2Tunnel[]): Promise<H2Tunnel[]> {
  const verdicts = await Promise.all(tunnels.map((tunnel) => tunnel.admitted));
  return tunnels.filter((_, i) => verdicts[i]);
}

describe("budgets and the tunnel RPC (issue #25)", () => {
  it("finding 4: idle tunnels with heavy metadata are charged at their real cost; metadata over the cap is refused", async () => {
    const budget = 16 * MiB;
    const { server, bystander, baseline, connect, attackersGone } = await attackSetup({
      limits: { maxConnectionMemoryBytes: budget, maxMetadataBytes: 48 * 1024 },
      processLimit: 64 * MiB,
    });
    const value = "m".repeat(20_000);
    const tunnels: H2Tunnel[] = [];
    for (let c = 0; c < 2; c++) {
      const attacker = connect();
      for (let i = 0; i < 256; i++) tunnels.push(attacker.open(undefined, { "x-a": value, "x-b": value }));
    }
    const admitted = await admittedOf(tunnels);
    // 16 KiB each was charged before, so all 512 were admitted (~56 MiB really held).
    expect(admitted.length).toBeLessThan(2 * 200);
    const refused = tunnels.filter((tunnel) => !admitted.includes(tunnel));
    expect(new Set(await Promise.all(refused.map((tunnel) => tunnel.status)))).toEqual(new Set([Code.RESOURCE_EXHAUSTED]));
    expect(refused[0]!.statusMessage).toMatch(/^memory limit maxConnectionMemoryBytes/);
    const during = await server.measure();
    expect(during.charged - baseline.charged).toBeLessThanOrEqual(2 * budget);
    expect(held(during) - held(baseline)).toBeLessThan(during.charged - baseline.charged + 4 * MiB);
    await bystander.ping();
    // Over the cap: refused at once, and it says why.
    const heavy = connect().open(undefined, { "x-a": value, "x-b": value, "x-c": value });
    expect(await heavy.status).toBe(Code.RESOURCE_EXHAUSTED);
    expect(heavy.statusMessage).toMatch(/^tunnel metadata of 60\d{3} bytes is over the limit maxMetadataBytes \(49152 bytes\)$/);
    await attackersGone();
  }, 60_000);

  it("finding 7: behind a proxy, budgets keyed by the forwarded client: one client no longer locks out the others", async () => {
    const { server, bystander, baseline, connect, attackersGone } = await attackSetup({ forwardedFor: true });
    // One connection, as a proxy (Envoy, a cloud load balancer) makes it.
    const proxy = connect();
    const greedy = Array.from({ length: 257 }, () => proxy.open(undefined, { "x-forwarded-for": "203.0.113.7" }));
    const admitted = await admittedOf(greedy);
    expect(admitted.length).toBe(256);
    expect(await greedy[256]!.status).toBe(Code.RESOURCE_EXHAUSTED);
    // Another client through the same connection, and one that forged an
    // entry left of what the proxy appended: each keyed by its own address.
    const other = proxy.open(undefined, { "x-forwarded-for": "198.51.100.2" });
    const forged = proxy.open(undefined, { "x-forwarded-for": "198.51.100.9, 203.0.113.8" });
    expect(await other.admitted).toBe(true);
    expect(await forged.admitted).toBe(true);
    const refusedToo = proxy.open(undefined, { "x-forwarded-for": "10.0.0.1, 203.0.113.7" }); // the greedy client again
    expect(await refusedToo.status).toBe(Code.RESOURCE_EXHAUSTED);
    await bystander.ping();
    const during = await server.measure();
    expect(during.charged - baseline.charged).toBeLessThan(259 * 64 * 1024);
    await attackersGone();
  }, 60_000);

  it("finding 7, the default: per-connection limits are kept per network connection, whatever a client forwards", async () => {
    const { bystander, connect, attackersGone } = await attackSetup();
    const proxy = connect();
    const greedy = Array.from({ length: 256 }, () => proxy.open(undefined, { "x-forwarded-for": "203.0.113.7" }));
    expect((await admittedOf(greedy)).length).toBe(256);
    const other = proxy.open(undefined, { "x-forwarded-for": "198.51.100.2" });
    expect(await other.status).toBe(Code.RESOURCE_EXHAUSTED);
    await bystander.ping(); // its own connection
    await attackersGone();
  }, 60_000);
});
