// Health and readiness (issue #29): /healthz and /readyz of a control server
// in cluster mode on a real Redis — ready, not ready once Redis has been
// unreachable past the grace period (and ready again when it is back), not
// ready while draining — and of an agent, ready while its tunnel is open.
import { afterEach, describe, expect, it } from "vitest";
import { agentHealth, controlServerHealth } from "../../src/fleet.js";
import { ClusterFixture } from "../support/cluster.js";
import { eventually } from "../support/conditions.js";
import { request, serveHttp } from "../support/http-page.js";
import { RedisServer } from "../support/redis-server.js";
import { startReplica } from "../support/replicas.js";
import { connectAgent, startAgent, startHub } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Readiness {
  status: number;
  ready: boolean;
  checks: Array<{ name: string; ok: boolean; detail: string }>;
}

async function readyz(base: string): Promise<Readiness> {
  const res = await request(`${base}/readyz`);
  return { status: res.status, ...(JSON.parse(res.body) as Omit<Readiness, "status">) };
}

const failing = (r: Readiness) => r.checks.filter((c) => !c.ok).map((c) => c.name);

describe("readiness of a control server", () => {
  it("fails once the cluster directory has been unreachable past the grace period, and recovers with Redis", async () => {
    const redis = await RedisServer.start();
    cleanup.add(() => redis.stop());
    const fixture = new ClusterFixture(redis.url);
    cleanup.add(() => fixture.cleanup());
    const replica = await startReplica(cleanup, fixture, "a");
    const graceMs = 1_500;
    const base = await serveHttp(cleanup, controlServerHealth(replica.handler, { cluster: replica.cluster, directoryGraceMs: graceMs }));

    expect(await request(`${base}/healthz`)).toMatchObject({ status: 200 });
    const up = await readyz(base);
    expect(up).toMatchObject({ status: 200, ready: true });
    expect(up.checks.map((c) => c.name)).toEqual(["shutting-down", "handler", "directory"]);

    await redis.kill();
    const lost = await eventually(
      "the directory noticed",
      () => readyz(base),
      (r) => /unreachable/.test(r.checks[2].detail),
      5_000,
    );
    const lostAt = performance.now() - lost.ms;
    // Within the grace period the replica stays in its balancer: local tunnels still work.
    expect(lost.value).toMatchObject({ status: 200, ready: true });
    const down = await eventually(
      "not ready past the grace period",
      () => readyz(base),
      (r) => r.status === 503,
      graceMs + 3_000,
    );
    expect(performance.now() - lostAt).toBeGreaterThanOrEqual(graceMs - 100);
    expect(failing(down.value)).toEqual(["directory"]);
    expect(down.value.checks[2].detail).toMatch(/^unreachable for \d+ ms \(grace 1500 ms\)$/);
    // Liveness does not depend on Redis.
    expect(await request(`${base}/healthz`)).toMatchObject({ status: 200 });

    await redis.restart();
    await eventually(
      "ready again with Redis back",
      () => readyz(base),
      (r) => r.status === 200,
      10_000,
    );
  });

  it("fails while the handler drains, and at once after shutDown()", async () => {
    const hub = await startHub(cleanup);
    const health = controlServerHealth(hub.handler);
    const base = await serveHttp(cleanup, health);
    expect(await readyz(base)).toMatchObject({ status: 200, ready: true });
    health.shutDown();
    const after = await readyz(base);
    expect(after).toMatchObject({ status: 503, ready: false });
    expect(failing(after)).toEqual(["shutting-down"]);

    const hub2 = await startHub(cleanup);
    const base2 = await serveHttp(cleanup, controlServerHealth(hub2.handler));
    await hub2.handler.drain({ graceMs: 1_000 });
    const drained = await readyz(base2);
    expect(drained.status).toBe(503);
    expect(failing(drained)).toEqual(["handler"]);
    expect(drained.checks[1].detail).toBe("draining");
  });

  it("answers 404 elsewhere and 405 to other methods", async () => {
    const hub = await startHub(cleanup);
    const base = await serveHttp(cleanup, controlServerHealth(hub.handler, { basePath: "/ops/" }));
    expect((await request(`${base}/ops/readyz`)).status).toBe(200);
    expect((await request(`${base}/readyz`)).status).toBe(404);
    expect((await request(`${base}/ops/healthz`, "POST")).status).toBe(405);
    expect((await request(`${base}/ops/healthz`, "HEAD")).body).toBe("");
    expect(() => controlServerHealth(hub.handler, { basePath: "ops" })).toThrow(RangeError);
    expect(() => controlServerHealth(hub.handler, { directoryGraceMs: -1 })).toThrow(RangeError);
  });
});

describe("readiness of an agent", () => {
  it("is ready while its reverse tunnel is open", async () => {
    const hub = await startHub(cleanup);
    const agent = startAgent(cleanup, hub.address, { name: "a", manual: true });
    const base = await serveHttp(cleanup, agentHealth(agent.rts));
    const before = await readyz(base);
    expect(before).toMatchObject({ status: 503 });
    expect(before.checks[1]).toEqual({ name: "tunnel", ok: false, detail: "0 reverse tunnel(s) open, 1 needed" });

    const serving = agent.rts.serve(agent.serveOptions);
    await hub.tunnelOf("a");
    expect(await readyz(base)).toMatchObject({ status: 200, ready: true });

    hub.handler.closeReverseTunnels("a");
    await serving;
    expect(await readyz(base)).toMatchObject({ status: 503, ready: false });
  });

  it("counts the tunnels it needs", async () => {
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a" });
    const base = await serveHttp(cleanup, agentHealth(agent.rts, { minTunnels: 2 }));
    expect(await readyz(base)).toMatchObject({ status: 503 });
    void agent.rts.serve(agent.serveOptions);
    await eventually(
      "two tunnels",
      () => readyz(base),
      (r) => r.status === 200,
      5_000,
    );
    expect(() => agentHealth(agent.rts, { minTunnels: 0 })).toThrow(RangeError);
  });
});
