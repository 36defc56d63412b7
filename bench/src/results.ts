import type { BenchConfig } from "./config.js";
import type { Processes, TunnelVariantId, VariantId } from "./fixtures.js";
import type { MachineInfo } from "./report/machine.js";
import { summarize, type Summary } from "./stats.js";

export type Better = "higher" | "lower";

/** One measured quantity of a workload, for every variant. */
export interface Figure {
  id: string;
  label: string;
  unit: string;
  better: Better;
  variants: Partial<Record<VariantId, Summary>>;
  /** Tunnel ÷ direct, computed round by round (same round, same machine state), then summarized. */
  ratios: Partial<Record<TunnelVariantId, Summary>>;
}

/** Memory growth against open streams (medians over the rounds), for the chart. */
export interface MemoryCurve {
  streams: number[];
  clientHeapBytes: Partial<Record<VariantId, number[]>>;
  serverHeapBytes: Partial<Record<VariantId, number[]>>;
  /** The process holding both ends. */
  rssBytes: Partial<Record<VariantId, number[]>>;
}

export interface WorkloadResult {
  id: string;
  title: string;
  params: Record<string, number | string>;
  figures: Figure[];
  curve?: MemoryCurve;
}

export interface TargetResult {
  id: string;
  description: string;
  workload: string;
  figure: string;
  variant: TunnelVariantId;
  /** The server end ran in the client's process (1) or its own (2). */
  processes: Processes;
  /** What is compared: the tunnel÷direct ratio, a figure's value, or a figure's with÷without ratio. */
  value: number;
  comparison: ">=" | "<=" | "<";
  threshold: number;
  met: boolean;
}

export interface BenchResults {
  schema: 1;
  mode: BenchConfig["mode"];
  startedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  config: BenchConfig;
  workloads: WorkloadResult[];
  targets: TargetResult[];
}

export interface FigureSpec {
  id: string;
  label: string;
  unit: string;
  better: Better;
}

/**
 * Builds a figure from per-round samples: `value` extracts the quantity of
 * one sample; ratios pair each tunnel round with the direct round it ran in.
 */
export function figure<T>(spec: FigureSpec, samples: Partial<Record<VariantId, T[]>>, value: (sample: T) => number): Figure {
  const variants: Figure["variants"] = {};
  const ratios: Figure["ratios"] = {};
  for (const [variant, list] of Object.entries(samples) as Array<[VariantId, T[]]>) {
    variants[variant] = summarize(list.map(value));
  }
  const direct = samples.direct;
  if (direct !== undefined) {
    for (const variant of ["rev1", "rev0"] as const) {
      const tunnel = samples[variant];
      if (tunnel !== undefined) {
        ratios[variant] = summarize(tunnel.map((sample, round) => value(sample) / value(direct[round]!)));
      }
    }
  }
  return { ...spec, variants, ratios };
}
