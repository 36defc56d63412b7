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
  comparison: TargetResult["comparison"];
  threshold: number;
  /** Checked in this process mode only; by default in both (where run). */
  processes?: Processes;
}

const ratio = (
  workload: string,
  description: string,
  figure: string,
  comparison: TargetResult["comparison"],
  threshold: number,
  /** Other fields, e.g. `id` (by default the workload's) or `processes`. */
  more: Partial<TargetSpec> = {},
): TargetSpec => ({
  id: workload,
  description,
  workload,
  figure,
  of: "ratio",
  comparison,
  threshold,
  ...more,
});

/** Bulk streams: at least the control (direct grpc-js given the runtime's serializer) and plain direct grpc-js. */
function bulkTargets(workload: string, what: string): TargetSpec[] {
  return [
    ratio(workload, `${what} MiB/s ≥ 1.0× direct`, "throughput", ">=", 1.0),
    ratio(workload, `${what} MiB/s ≥ 0.95× direct grpc-js given the runtime's serializer`, "throughput-control", ">=", 0.95, {
      id: `${workload}-control`,
    }),
  ];
}

/**
 * The targets of issue 27 (Node 24 and 26; the bulk, unary, reverse,
 * relay and instrumentation ones) and those kept from issues 10, 16, 18 and
 * 19 (fairness, memory), for both revisions and, where a two-process run
 * exists and the target names no mode, both process modes.
 */
const TARGETS: TargetSpec[] = [
  ...bulkTargets("server-stream-64k", "server-streaming, 64 KiB messages:"),
  ...bulkTargets("server-stream-1m", "server-streaming, 1 MiB messages:"),
  ...bulkTargets("client-stream-64k", "client-streaming, 64 KiB messages:"),
  ...bulkTargets("client-stream-1m", "client-streaming, 1 MiB messages:"),
  ratio("unary-c32", "unary calls/s at 32 callers ≥ 1.2× direct (one process)", "rate", ">=", 1.2, { processes: 1 }),
  ratio("unary-c32", "unary calls/s at 32 callers ≥ 2.0× direct (two processes)", "rate", ">=", 2.0, {
    id: "unary-c32-two-processes",
    processes: 2,
  }),
  ratio("unary-c32", "unary CPU per call at 32 callers ≤ 0.7× direct (two processes)", "cpu", "<=", 0.7, {
    id: "unary-c32-cpu",
    processes: 2,
  }),
  ratio("reverse-unary", "reverse unary calls/s via keyAsChannel ≥ 1.5× direct", "rate", ">=", 1.5),
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
    description: "cluster mode: relayed unary calls/s ≥ 0.6× local reverse-tunnel calls/s",
    workload: "relay-unary",
    figure: "relayed-ratio",
    of: "value",
    comparison: ">=",
    threshold: 0.6,
  },
  ratio("gateway-unary", "gateway: unary calls/s at 32 callers through the gateway ≥ 0.5× direct", "rate", ">=", 0.5),
  ratio("gateway-unary", "gateway: 64 KiB server-streaming MiB/s through the gateway ≥ 0.7× direct", "stream-64k", ">=", 0.7, {
    id: "gateway-stream-64k",
  }),
  {
    id: "instrumentation-diagnostics",
    description: "unary calls/s with a diagnostics subscriber ≥ 0.95× with nothing subscribed",
    workload: "instrumentation",
    figure: "diagnostics-ratio",
    of: "value",
    comparison: ">=",
    threshold: 0.95,
  },
  // Tracing is measured against direct grpc-js traced the same way (the
  // control): the SDK costs any traced gRPC call, so a target against the
  // untraced tunnel would measure the SDK, not the runtime.
  ratio(
    "instrumentation",
    "unary calls/s with OpenTelemetry traces + metrics ≥ 1.2× direct grpc-js traced the same way",
    "rate-otel",
    ">=",
    1.2,
    {
      id: "instrumentation-otel",
    },
  ),
  ratio(
    "instrumentation",
    "CPU per call that tracing adds (over the context manager alone) ≤ 1.3× what it adds to direct grpc-js",
    "tracing-cpu-added",
    "<=",
    1.3,
    { id: "instrumentation-tracing-cpu" },
  ),
];

export function evaluateTargets(workloads: WorkloadResult[]): TargetResult[] {
  const results: TargetResult[] = [];
  for (const spec of TARGETS) {
    for (const processes of [1, 2] as Processes[]) {
      if (spec.processes !== undefined && spec.processes !== processes) {
        continue;
      }
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
        const met =
          spec.comparison === ">=" ? value >= spec.threshold : spec.comparison === "<=" ? value <= spec.threshold : value < spec.threshold;
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
