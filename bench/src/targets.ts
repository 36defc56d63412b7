import { TUNNEL_VARIANTS } from "./fixtures.js";
import type { TargetResult, WorkloadResult } from "./results.js";

interface TargetSpec {
  id: string;
  description: string;
  workload: string;
  figure: string;
  /** "ratio": the figure's tunnel÷direct ratio; "value": the tunnel's own figure. */
  of: "ratio" | "value";
  comparison: ">=" | "<";
  threshold: number;
}

/** The targets of issues 10, 18 and 19, checked for both tunnel revisions. */
const TARGETS: TargetSpec[] = [
  {
    id: "unary-c32",
    description: "unary calls/s at 32 callers ≥ 0.9× direct",
    workload: "unary-c32",
    figure: "rate",
    of: "ratio",
    comparison: ">=",
    threshold: 0.9,
  },
  {
    id: "server-stream-64k",
    description: "server-streaming MiB/s, 64 KiB messages ≥ 0.8× direct",
    workload: "server-stream-64k",
    figure: "throughput",
    of: "ratio",
    comparison: ">=",
    threshold: 0.8,
  },
  {
    id: "client-stream-64k",
    description: "client-streaming MiB/s, 64 KiB messages ≥ 0.8× direct",
    workload: "client-stream-64k",
    figure: "throughput",
    of: "ratio",
    comparison: ">=",
    threshold: 0.8,
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
    id: "fairness",
    description: "unary p99 with a bulk stream < 3× without",
    workload: "fairness",
    figure: "slowdown",
    of: "value",
    comparison: "<",
    threshold: 3,
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
    id: "instrumentation-diagnostics",
    description: "unary calls/s with a diagnostics subscriber ≥ 0.95× with nothing subscribed",
    workload: "instrumentation",
    figure: "diagnostics-ratio",
    of: "value",
    comparison: ">=",
    threshold: 0.95,
  },
  {
    id: "instrumentation-otel",
    description: "unary calls/s with OpenTelemetry traces + metrics ≥ 0.9× with nothing subscribed",
    workload: "instrumentation",
    figure: "otel-ratio",
    of: "value",
    comparison: ">=",
    threshold: 0.9,
  },
];

export function evaluateTargets(workloads: WorkloadResult[]): TargetResult[] {
  const results: TargetResult[] = [];
  for (const spec of TARGETS) {
    const found = workloads.find((w) => w.id === spec.workload)?.figures.find((f) => f.id === spec.figure);
    if (found === undefined) {
      continue; // workload not run (--only)
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
        workload: spec.workload,
        figure: spec.figure,
        variant,
        value,
        comparison: spec.comparison,
        threshold: spec.threshold,
        met,
      });
    }
  }
  return results;
}
