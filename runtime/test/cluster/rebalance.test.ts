// Rebalancing in process (the acceptance run with replica processes and a
// balancer is replicas-rebalance.test.ts): what each replica reports of its
// load, how many tunnels a replica sheds, which ones, what it says, and
// the report withdrawn as it leaves.
import { TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import type { AffinityDirectory, ReplicaLoad } from "../../src/cluster.js";
import { joinCluster } from "../../src/cluster.js";
import { resolveRebalanceOptions, tunnelsToShed } from "../../src/cluster/rebalancer.js";
import { Code, serverStreamCall, subscribeDiagnostics, type TunnelChannel, type TunnelError } from "../../src/index.js";
import type { TunnelsShedEvent } from "../../src/protocol.js";
import { clusterBehindGate, clusterPerTest } from "../support/cluster.js";
import { eventually } from "../support/conditions.js";
import { connectAgent, drain, Gate } from "../support/reverse.js";
import { startReplica, TEST_SECRET } from "../support/replicas.js";
import { Cleanup } from "../support/servers.js";

const newCluster = clusterPerTest();
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const byId = (loads: readonly ReplicaLoad[]) => [...loads].sort((x, y) => x.replicaId.localeCompare(y.replicaId));

describe("load reports", () => {
  it("each replica's report is its whole number of tunnels; every report names the live ones; undefined withdraws", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const b = await c.replica("b");
    expect(await a.reportLoad(3)).toEqual([{ replicaId: "a", tunnels: 3 }]);
    expect(byId(await b.reportLoad(5))).toEqual([
      { replicaId: "a", tunnels: 3 },
      { replicaId: "b", tunnels: 5 },
    ]);
    expect(byId(await a.reportLoad(-2))).toEqual([
      { replicaId: "a", tunnels: 0 },
      { replicaId: "b", tunnels: 5 },
    ]);
    expect(byId(await a.reportLoad(2.7))).toEqual([
      { replicaId: "a", tunnels: 2 },
      { replicaId: "b", tunnels: 5 },
    ]);
    expect(await a.reportLoad(undefined)).toEqual([{ replicaId: "b", tunnels: 5 }]);
    expect(await b.reportLoad(undefined)).toEqual([]);
    await a.close();
    await expect(a.reportLoad(1)).rejects.toMatchObject({ code: 14 });
  });

  it("a replica that stops reporting leaves the reports when its lease ends", async () => {
    const c = newCluster();
    const a = await c.replica("a");
    const quiet = await c.replica("quiet", { leaseMs: 300, refreshMs: 100 });
    await quiet.reportLoad(7);
    expect(byId(await a.reportLoad(1))).toEqual([
      { replicaId: "a", tunnels: 1 },
      { replicaId: "quiet", tunnels: 7 },
    ]);
    await eventually(
      "quiet's report expired",
      () => a.reportLoad(1),
      (loads) => loads.length === 1,
      5_000,
    );
    expect(await a.reportLoad(1)).toEqual([{ replicaId: "a", tunnels: 1 }]);
  });
});

describe("how many tunnels a replica sheds", () => {
  const options = resolveRebalanceOptions({ threshold: 0.2, maxShedPerInterval: 3 });
  const loads = (...tunnels: number[]) => tunnels.map((n, i) => ({ replicaId: `r${i}`, tunnels: n }));

  it("sheds down to the mean when above it by more than the threshold, a few per interval", () => {
    expect(tunnelsToShed(6, loads(6, 6, 0), options)).toBe(2); // mean 4, limit 4.8
    expect(tunnelsToShed(5, loads(5, 4, 3), options)).toBe(1);
    expect(tunnelsToShed(6, loads(6, 0), options)).toBe(3); // two replicas: mean 3
    expect(tunnelsToShed(6, loads(6, 6, 1), options)).toBe(1); // mean 4.33: down to 5, not 4
    expect(tunnelsToShed(100, loads(100, 0, 0, 0), options)).toBe(3); // at most maxShedPerInterval
    const noThreshold = resolveRebalanceOptions({ threshold: 0 });
    expect(tunnelsToShed(2, loads(2, 1, 0), noThreshold)).toBe(1); // exactly one tunnel above the mean
  });

  it("sheds nothing within the threshold, below one tunnel of excess, or alone", () => {
    expect(tunnelsToShed(4, loads(4, 4, 4), options)).toBe(0);
    expect(tunnelsToShed(6, loads(6, 4, 5), options)).toBe(0); // mean 5: exactly at mean × 1.2
    expect(tunnelsToShed(2, loads(2, 1), options)).toBe(0); // mean 1.5: 0.5 above
    expect(tunnelsToShed(12, loads(12), options)).toBe(0);
    expect(tunnelsToShed(3, [], options)).toBe(0); // no reports to compare with
    expect(tunnelsToShed(0, loads(0, 12, 12), options)).toBe(0);
  });

  it("defaults: every 5 s, 20 % above the mean, 5 per interval, 30 s of grace; options override them one by one", () => {
    const defaults = { intervalMs: 5_000, threshold: 0.2, maxShedPerInterval: 5, graceMs: 30_000 };
    expect(resolveRebalanceOptions(true)).toEqual(defaults);
    expect(resolveRebalanceOptions({})).toEqual(defaults);
    expect(resolveRebalanceOptions({ graceMs: 0 })).toEqual({ ...defaults, graceMs: 0 });
    expect(resolveRebalanceOptions({ intervalMs: 1, threshold: 0, maxShedPerInterval: 1, graceMs: 0 })).toEqual({
      intervalMs: 1,
      threshold: 0,
      maxShedPerInterval: 1,
      graceMs: 0,
    });
  });

  it.each([
    [{ intervalMs: 0 }, "rebalance.intervalMs must be a positive whole number of milliseconds"],
    [{ intervalMs: 1.5 }, "rebalance.intervalMs must be a positive whole number of milliseconds"],
    [{ threshold: -0.1 }, "rebalance.threshold must be a finite number >= 0"],
    [{ threshold: Number.POSITIVE_INFINITY }, "rebalance.threshold must be a finite number >= 0"],
    [{ maxShedPerInterval: 0 }, "rebalance.maxShedPerInterval must be a whole number >= 1"],
    [{ maxShedPerInterval: 1.5 }, "rebalance.maxShedPerInterval must be a whole number >= 1"],
    [{ graceMs: -1 }, "rebalance.graceMs must be a finite number >= 0"],
    [{ graceMs: Number.POSITIVE_INFINITY }, "rebalance.graceMs must be a finite number >= 0"],
  ])("refuses %o with a RangeError naming it", (bad, message) => {
    expect(() => resolveRebalanceOptions(bad)).toThrow(new RangeError(message));
  });

  it("joinCluster refuses rebalancing on a directory that cannot report load, and takes rebalance: false there (no listing either)", async () => {
    const c = newCluster();
    const directory = await c.replica("a");
    const withoutLoad: AffinityDirectory = {
      replicaId: directory.replicaId,
      address: directory.address,
      register: (key) => directory.register(key),
      unregister: (key) => directory.unregister(key),
      lookup: (key, options) => directory.lookup(key, options),
      waitFor: (key, options) => directory.waitFor(key, options),
      flush: () => directory.flush(),
      close: () => directory.close(),
    };
    const relay = { address: directory.address, secret: TEST_SECRET };
    await expect(joinCluster({ directory: withoutLoad, relay, rebalance: true })).rejects.toThrow(
      new TypeError("joinCluster: rebalance needs a directory with reportLoad"),
    );
    const plain = await joinCluster({ directory: withoutLoad, relay, rebalance: false });
    expect(plain.tunnelsShed).toBe(0);
    // Nor can such a cluster list its keys.
    await expect(plain.listKeys()).rejects.toMatchObject({
      code: Code.UNIMPLEMENTED,
      rawMessage: "this cluster's directory cannot list keys",
    });
    await plain.close();
  });
});

describe("shedding", () => {
  it("a replica above the mean sheds its least busy tunnels down to it, says so, and withdraws its report as it leaves", async () => {
    const c = newCluster();
    const rebalance = { intervalMs: 50, threshold: 0, maxShedPerInterval: 2, graceMs: 10_000 };
    const shed: Array<{ event: TunnelsShedEvent; draining: string[] }> = [];
    const tunnels: TunnelChannel[] = [];
    const drainingNames = () => tunnels.filter((t) => t.draining).map((t) => String(t.metadata.get("agent-name")[0]));
    cleanup.add(subscribeDiagnostics({ tunnelsShed: (event) => shed.push({ event, draining: drainingNames() }) }));

    const a = await startReplica(cleanup, c, "a", { join: { rebalance } });
    const gate = new Gate();
    const busy = await connectAgent(cleanup, a, { name: "busy", key: "k0", impl: { serverStream: gate.serverStream } });
    tunnels.push(busy.tunnel);
    const running = drain(serverStreamCall(a.handler.keyAsChannel("k0"), TestService.method.serverStream, { count: 2 }));
    await gate.entered.promise;
    for (let i = 1; i <= 3; i++) tunnels.push((await connectAgent(cleanup, a, { name: `idle-${i}`, key: `k${i}` })).tunnel);
    // Alone in the cluster, a has no mean to compare with: it sheds nothing.
    const probe = await c.replica("probe");
    await eventually(
      "a reported its four tunnels",
      () => probe.reportLoad(undefined),
      (l) => l.length === 1 && l[0].tunnels === 4,
      5_000,
    );
    expect(shed).toEqual([]);

    // b joins empty: the mean is 2, a sheds two idle tunnels (at most two per interval).
    const b = await startReplica(cleanup, c, "b", { join: { rebalance } });
    await eventually(
      "a shed tunnels",
      async () => shed.length,
      (n) => n > 0,
      10_000,
    );
    const [first] = shed;
    expect(first.event).toEqual({ replicaId: "a", held: 4, meanTunnels: 2, shed: 2 });
    expect(first.draining).toHaveLength(2);
    expect(first.draining).not.toContain("busy");
    expect(busy.tunnel.draining).toBe(false);
    expect(a.cluster.tunnelsShed).toBeGreaterThanOrEqual(2);
    expect(b.cluster.tunnelsShed).toBe(0);
    expect(shed.every(({ event }) => event.replicaId === "a")).toBe(true);
    // The busy tunnel's call was never disturbed.
    gate.release();
    expect((await running).map((r) => r.count)).toEqual([0, 1]);

    // Leaving withdraws a's report at once (not after its lease).
    await a.cluster.close();
    expect((await b.cluster.directory.reportLoad!(0)).map((l) => l.replicaId)).toEqual(["b"]);
  });

  it("a round that cannot reach the directory is reported to onError, and the next rounds go on", async () => {
    const { gate, c } = await clusterBehindGate(cleanup);
    const reported: TunnelError[] = [];
    const rebalance = { intervalMs: 50, threshold: 0, maxShedPerInterval: 1, graceMs: 0 };
    // Given its directory, joinCluster reports to onError what the rebalancer meets, and nothing of the directory's own.
    const a = await startReplica(cleanup, c, "a", { join: { rebalance, onError: (error) => reported.push(error) } });
    const probe = await c.replica("probe");
    await eventually(
      "a reports its load",
      () => probe.reportLoad(undefined),
      (loads) => loads.some((l) => l.replicaId === "a"),
      5_000,
    );
    expect(reported).toEqual([]);
    gate.down();
    await eventually(
      "two rounds failed",
      async () => reported.length,
      (n) => n >= 2,
      5_000,
    );
    for (const error of reported) {
      expect(error).toMatchObject({ code: Code.UNAVAILABLE });
      expect(error.rawMessage).toMatch(/^cluster directory unavailable: /);
    }
    gate.up();
    expect(a.cluster.tunnelsShed).toBe(0);
  });
});
