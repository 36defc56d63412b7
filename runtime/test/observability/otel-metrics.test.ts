import * as diagnosticsChannel from "node:diagnostics_channel";
import { create, toBinary } from "@bufbuild/protobuf";
import type { Attributes } from "@opentelemetry/api";
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from "@opentelemetry/sdk-metrics";
import { MessageSchema, TestService } from "@protoc-gen-tunnel/interop";
import { afterEach, describe, expect, it } from "vitest";
import { Code, createTunnelClient, TunnelError, type ServiceImpl } from "../../src/index.js";
import { DIAGNOSTICS_CHANNELS } from "../../src/protocol.js";
import { tunnelMetrics } from "../../src/otel.js";
import { forwardFixture, fromArray } from "../support/forward-fixture.js";
import { connectAgent, startHub } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** A real SDK MeterProvider whose reader the test collects from on demand. */
function meterProvider() {
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 3_600_000,
  });
  const provider = new MeterProvider({ readers: [reader] });
  cleanup.add(() => provider.shutdown());
  const recording = tunnelMetrics({ meterProvider: provider });
  cleanup.add(() => recording.stop());
  return {
    async collect(): Promise<Map<string, MetricData>> {
      const { resourceMetrics, errors } = await reader.collect();
      expect(errors).toEqual([]);
      return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
    },
  };
}

/** The value of the data point with exactly these attributes (sums: the number; histograms: count and sum). */
function point(
  metrics: Map<string, MetricData>,
  name: string,
  attributes: Attributes,
): number | { count: number; sum: number } | undefined {
  const metric = metrics.get(name);
  const found = metric?.dataPoints.find((p) => JSON.stringify(sorted(p.attributes)) === JSON.stringify(sorted(attributes)));
  if (found === undefined) {
    return undefined;
  }
  if (metric!.dataPointType === DataPointType.HISTOGRAM) {
    const value = found.value as { count: number; sum?: number };
    return { count: value.count, sum: value.sum ?? 0 };
  }
  return found.value as number;
}

function sorted(attributes: Attributes): Attributes {
  return Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b)));
}

const rpc = (role: "client" | "server", method: string) => ({
  "grpctunnel.role": role,
  "rpc.system": "grpc",
  "rpc.service": "grpchantesting.TestService",
  "rpc.method": method,
});
const size = (init: Parameters<typeof create<typeof MessageSchema>>[1]) => toBinary(MessageSchema, create(MessageSchema, init)).length;

/** Unary answers `count` bytes; NOT_FOUND for an empty payload; ServerStream waits until cancelled. */
const scripted: Partial<ServiceImpl<typeof TestService>> = {
  unary(req) {
    if (req.payload.length === 0) {
      throw new TunnelError(Code.NOT_FOUND, "no such thing");
    }
    return { payload: new Uint8Array(req.count) };
  },
  async *serverStream(_req, ctx) {
    yield {};
    await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
  },
};

describe("OpenTelemetry metrics from the diagnostics channels", () => {
  it("match a scripted run: 3 OK and 1 NOT_FOUND calls, their bytes and durations, open tunnels and active calls", async () => {
    const metrics = meterProvider();
    const { tunnel } = await forwardFixture(cleanup, { impl: scripted });
    const client = createTunnelClient(TestService, tunnel);

    const requests = [
      { payload: new Uint8Array(10), count: 100 },
      { payload: new Uint8Array(2000), count: 1 },
      { payload: new Uint8Array(70_000), count: 30_000 },
    ];
    for (const request of requests) {
      await client.unary(request);
    }
    await expect(client.unary({ count: 5 })).rejects.toMatchObject({ code: Code.NOT_FOUND });

    const held = client.serverStream({})[Symbol.asyncIterator]();
    await held.next();
    let m = await metrics.collect();
    const tunnels = (role: string) => ({ "grpctunnel.role": role, "grpctunnel.direction": "forward" });
    expect(point(m, "grpctunnel.tunnels.open", tunnels("client"))).toBe(1);
    expect(point(m, "grpctunnel.tunnels.open", tunnels("server"))).toBe(1);
    for (const role of ["client", "server"] as const) {
      const unary = rpc(role, "Unary");
      expect(point(m, "grpctunnel.calls", { ...unary, "rpc.grpc.status_code": Code.OK })).toBe(3);
      expect(point(m, "grpctunnel.calls", { ...unary, "rpc.grpc.status_code": Code.NOT_FOUND })).toBe(1);
      const ok = point(m, "grpctunnel.call.duration", { ...unary, "rpc.grpc.status_code": Code.OK }) as { count: number; sum: number };
      expect(ok.count).toBe(3);
      expect(ok.sum).toBeGreaterThan(0);
      expect(point(m, "grpctunnel.call.duration", { ...unary, "rpc.grpc.status_code": Code.NOT_FOUND })).toMatchObject({ count: 1 });
      expect(point(m, "grpctunnel.calls.active", unary)).toBe(0);
      expect(point(m, "grpctunnel.calls.active", rpc(role, "ServerStream"))).toBe(1);
    }
    const requestBytes = [...requests, { count: 5 }].reduce((total, r) => total + size(r), 0);
    const responseBytes = requests.reduce((total, r) => total + size({ payload: new Uint8Array(r.count) }), 0);
    expect(point(m, "grpctunnel.call.sent_bytes", rpc("client", "Unary"))).toBe(requestBytes);
    expect(point(m, "grpctunnel.call.received_bytes", rpc("server", "Unary"))).toBe(requestBytes);
    expect(point(m, "grpctunnel.call.sent_bytes", rpc("server", "Unary"))).toBe(responseBytes);
    expect(point(m, "grpctunnel.call.received_bytes", rpc("client", "Unary"))).toBe(responseBytes);

    await held.return?.();
    tunnel.close();
    await tunnel.done;
    m = await metrics.collect();
    expect(point(m, "grpctunnel.tunnels.open", tunnels("client"))).toBe(0);
    expect(point(m, "grpctunnel.calls.active", rpc("client", "ServerStream"))).toBe(0);
    expect(point(m, "grpctunnel.calls", { ...rpc("client", "ServerStream"), "rpc.grpc.status_code": Code.CANCELLED })).toBe(1);
  });

  it("counts reverse tunnels by direction, and a tunnel that ends is no longer open", async () => {
    const metrics = meterProvider();
    const hub = await startHub(cleanup);
    const agent = await connectAgent(cleanup, hub, { name: "a1" });
    await createTunnelClient(TestService, hub.handler.keyAsChannel("a1")).clientStream(fromArray([{}, {}]));
    let m = await metrics.collect();
    const reverse = (role: string) => ({ "grpctunnel.role": role, "grpctunnel.direction": "reverse" });
    expect(point(m, "grpctunnel.tunnels.open", reverse("client"))).toBe(1);
    expect(point(m, "grpctunnel.tunnels.open", reverse("server"))).toBe(1);
    expect(point(m, "grpctunnel.calls", { ...rpc("server", "ClientStream"), "rpc.grpc.status_code": Code.OK })).toBe(1);
    agent.rts.stop();
    await hub.closedTunnelOf("a1");
    m = await metrics.collect();
    expect(point(m, "grpctunnel.tunnels.open", reverse("client"))).toBe(0);
    expect(point(m, "grpctunnel.tunnels.open", reverse("server"))).toBe(0);
  });

  it("stays consistent when enabled while tunnels and calls are already running, and records nothing after stop", async () => {
    const { tunnel } = await forwardFixture(cleanup, { impl: scripted });
    const client = createTunnelClient(TestService, tunnel);
    const held = client.serverStream({})[Symbol.asyncIterator]();
    await held.next();
    const metrics = meterProvider(); // after the tunnel opened and the call started
    await held.return?.();
    await client.unary({ payload: new Uint8Array(1), count: 1 });
    tunnel.close();
    await tunnel.done;
    let m = await metrics.collect();
    // Never seen opening or starting: not counted down below zero.
    expect(m.get("grpctunnel.tunnels.open")?.dataPoints ?? []).toEqual([]);
    expect(point(m, "grpctunnel.calls.active", rpc("client", "ServerStream"))).toBe(0);
    expect(point(m, "grpctunnel.calls.active", rpc("client", "Unary"))).toBe(0);
    expect(point(m, "grpctunnel.calls", { ...rpc("client", "ServerStream"), "rpc.grpc.status_code": Code.CANCELLED })).toBe(1);

    await cleanup.run(); // stops the recording (and the fixture)
    const again = meterProvider();
    const second = await forwardFixture(cleanup, { impl: scripted });
    await createTunnelClient(TestService, second.tunnel).unary({ payload: new Uint8Array(1), count: 1 });
    m = await again.collect();
    expect(point(m, "grpctunnel.calls", { ...rpc("client", "Unary"), "rpc.grpc.status_code": Code.OK })).toBe(1); // only the new one
  });

  it("counts the removals a cluster directory dropped, by replica, from the diagnostics events", async () => {
    const metrics = meterProvider();
    const dropped = diagnosticsChannel.channel(DIAGNOSTICS_CHANNELS.directoryRemovalsDropped);
    dropped.publish({ replicaId: "r1", dropped: 3, droppedTotal: 3, pendingKeys: 10, pendingBytes: 1000 });
    dropped.publish({ replicaId: "r1", dropped: 1, droppedTotal: 4, pendingKeys: 10, pendingBytes: 1000 });
    dropped.publish({ replicaId: "r2", dropped: 2, droppedTotal: 2, pendingKeys: 5, pendingBytes: 500 });
    const m = await metrics.collect();
    expect(point(m, "grpctunnel.directory.removals.dropped", { "grpctunnel.replica_id": "r1" })).toBe(4);
    expect(point(m, "grpctunnel.directory.removals.dropped", { "grpctunnel.replica_id": "r2" })).toBe(2);
  });

  it("counts calls a quota throttled, by scope, unit and method", async () => {
    const metrics = meterProvider();
    const hub = await startHub(cleanup, { quotas: { perKey: { callsPerSecond: 0.001, burst: 1 } } });
    await connectAgent(cleanup, hub, { name: "k" });
    const client = createTunnelClient(TestService, hub.handler.keyAsChannel("k"));
    await client.unary({});
    for (let i = 0; i < 2; i++) {
      await expect(client.unary({})).rejects.toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    }
    const attributes = {
      "grpctunnel.quota.scope": "key",
      "grpctunnel.quota.unit": "calls",
      "rpc.system": "grpc",
      "rpc.service": "grpchantesting.TestService",
      "rpc.method": "Unary",
    };
    expect(point(await metrics.collect(), "grpctunnel.calls.throttled", attributes)).toBe(2);
  });
});
