import type { Processes } from "./fixtures.js";

/** How much of each workload to run; `--quick` is a smoke run, not a measurement. */
export interface BenchConfig {
  mode: "quick" | "full";
  /** Measured rounds; every figure is the median over them. */
  rounds: number;
  /** Rounds run first and discarded (JIT, connection and buffer warm-up). */
  warmupRounds: number;
  /** Length of one timed sample of a throughput or latency workload. */
  sampleMs: number;
  /** Collect garbage before every sample, so one sample's garbage is not charged to the next. */
  gcBetweenSamples: boolean;
  /** Message sizes of the streaming workloads. */
  streamSizes: number[];
  /** Where the server end runs: 1, in the client's process; 2, in a process of its own. */
  processes: Processes[];
  /** Message sizes of the streaming workloads with two processes. */
  twoProcessStreamSizes: number[];
  /** Open idle streams at which the memory workload measures; the last is the total. */
  streamCheckpoints: number[];
  /** Rounds of the memory workload: each is a fresh process per variant, about a second each. */
  memoryRounds: number;
  /** Reverse tunnels connected for the reverse workload. */
  reverseAgents: number;
  /** The Go anchor rows (Go client against the Go and the TypeScript tunnel server); they build interop/go first. */
  goAnchors: boolean;
}

export const FULL: BenchConfig = {
  mode: "full",
  rounds: 5,
  warmupRounds: 1,
  sampleMs: 1000,
  gcBetweenSamples: true,
  streamSizes: [1024, 64 * 1024, 1024 * 1024],
  processes: [1, 2],
  twoProcessStreamSizes: [64 * 1024, 1024 * 1024],
  streamCheckpoints: [1000, 2500, 5000, 7500, 10_000],
  memoryRounds: 5,
  reverseAgents: 100,
  goAnchors: true,
};

export const QUICK: BenchConfig = {
  ...FULL,
  mode: "quick",
  sampleMs: 50,
  gcBetweenSamples: false,
  streamCheckpoints: [100, 250, 500],
  memoryRounds: 3,
  reverseAgents: 100,
  goAnchors: false,
};
