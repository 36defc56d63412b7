import { type Processes, TUNNEL_VARIANTS } from "./fixtures.js";
import type { TargetResult, WorkloadResult } from "./results.js";

interface TargetSpec {
  id: string;
  description: string;
  /** The one-process workload; its two-process twin (`-2p`) is checked too, when it ran. */
  workload: string;
  figure: string;
  /** "ratio": the figure's tunnel÷direct ratio; "value": the tunnel's own figure. */
  of: "ratio" | "value";
  comparison: ">=" | "<";
  threshold: number;
}

const ratioAtLeast = (id: string, description: string, figure: string, threshold: number): TargetSpec => ({
  id,
  description,
  workload: id,
  figure,
  of: "ratio",
  comparison: ">=",
  threshold,
});

/**
 * The targets of issue 16 (and those of issues 10, 18 and 19), for both
 * revisions and, where a two-process run exists, both process modes.
 */
const TARGETS: TargetSpec[] = [
  ratioAtLeast("server-stream-64k", "server-streaming MiB/s, 64 KiB messages ≥ 0.9× direct", "throughput", 0.9),
  ratioAtLeast("server-stream-1m", "server-streaming MiB/s, 1 MiB messages ≥ 0.8× direct", "throughput", 0.8),
  ratioAtLeast("client-stream-64k", "client-streaming MiB/s, 64 KiB messages ≥ 0.9× direct", "throughput", 0.9),
  ratioAtLeast("client-stream-1m", "client-streaming MiB/s, 1 MiB messages ≥ 0.8× direct", "throughput", 0.8),
  ratioAtLeast("unary-c32", "unary calls/s at 32 callers ≥ 1.2× direct", "rate", 1.2),
  {
    id: "fairness",
    description: "unary p99 with a bulk stream < 3× without",
    workload: "fairness",
    figure: "slowdown",
    of: "value",
    comparison: "<",
    threshold: 3,
  },
  {
    id: "many-streams-client",
    description: "idle streams on one tunnel: heap per stream < 4 KiB, client end",
    workload: "many-streams",
    figure: "client-heap",
    of: "value",
    comparison: "<",
    threshold: 4,
  },
  {
    id: "many-streams-server",
    description: "idle streams on one tunnel: heap per stream < 4 KiB, server end",
    workload: "many-streams",
    figure: "server-heap",
    of: "value",
    comparison: "<",
    threshold: 4,
  },
  {
    id: "relay-unary",
    description: "cluster mode: relayed unary calls/s ≥ 0.5× local reverse-tunnel calls/s",
    workload: "relay-unary",
    figure: "relayed-ratio",
    of: "value",
    comparison: ">=",
    threshold: 0.5,
  },
  {
    id: "gateway-unary",
    description: "gateway: unary calls/s at 32 callers through the gateway ≥ 0.5× direct",
    workload: "gateway-unary",
    figure: "rate",
    of: "ratio",
    comparison: ">=",
    threshold: 0.5,
  },
  {
    id: "gateway-stream-64k",
    description: "gateway: 64 KiB server-streaming MiB/s through the gateway ≥ 0.7× direct",
    workload: "gateway-unary",
    figure: "stream-64k",
    of: "ratio",
    comparison: ">=",
    threshold: 0.7,
  },
  {
    id: "instrumentation-diagnostics",
    description: "unary calls/s with a diagnostics subscriber ≥ 0.95× with nothing subscribed",
    workload: "instrumentation",
    figure: "diagnostics-ratio",
    of: "value",
    comparison: ">=",
    threshold: 0.95,
  },
  {
    // The runtime's own cost: against the context manager alone, measured in
    // the same sample; the total against nothing is a figure of the workload.
    id: "instrumentation-otel",
    description: "unary calls/s with OpenTelemetry traces + metrics ≥ 0.9× with the OTel context manager only",
    workload: "instrumentation",
    figure: "otel-own-ratio",
    of: "value",
    comparison: ">=",
    threshold: 0.9,
  },
];

export function evaluateTargets(workloads: WorkloadResult[]): TargetResult[] {
  const results: TargetResult[] = [];
  for (const spec of TARGETS) {
    for (const processes of [1, 2] as Processes[]) {
      const workload = processes === 1 ? spec.workload : `${spec.workload}-2p`;
      const found = workloads.find((w) => w.id === workload)?.figures.find((f) => f.id === spec.figure);
      if (found === undefined) {
        continue; // workload not run (--only, --processes) or not run in this mode
      }
      for (const variant of TUNNEL_VARIANTS) {
        const summary = spec.of === "ratio" ? found.ratios[variant] : found.variants[variant];
        if (summary === undefined) {
          continue;
        }
        const value = summary.median;
        const met = spec.comparison === ">=" ? value >= spec.threshold : value < spec.threshold;
        results.push({
          id: spec.id,
          description: spec.description,
          workload,
          figure: spec.figure,
          variant,
          processes,
          value,
          comparison: spec.comparison,
          threshold: spec.threshold,
          met,
        });
      }
    }
  }
  return results;
}
