import { ownCpuMicros, type Processes } from "../fixtures.js";
import type { WorkloadResult } from "../results.js";
import type { RunContext } from "../rounds.js";
import { LatencyRecorder } from "../stats.js";

export interface Workload {
  id: string;
  title: string;
  run(ctx: RunContext): Promise<WorkloadResult>;
}

export interface LoadResult {
  /** Calls per second: all calls, over the time until the last one finished. */
  rate: number;
  /** Calls made. */
  calls: number;
  /** CPU time of this process (both ends) per call, µs: the cost, robust to other load on the machine. */
  cpuPerCallUs: number;
  latencies: LatencyRecorder;
}

/**
 * Closed-loop load: `callers` loops each start a call as soon as their
 * previous one finished, until `ms` have passed. Every call's latency is
 * recorded; the rate counts every call over the time until the last one
 * finished (so it is never 0, even when calls outlast a short sample).
 */
export async function closedLoop(
  ms: number,
  callers: number,
  call: () => Promise<unknown>,
  /** CPU time of every process involved so far, µs (default: this process). */
  cpuNow: () => Promise<number> = async () => ownCpuMicros(),
): Promise<LoadResult> {
  const latencies = new LatencyRecorder();
  const cpuBefore = await cpuNow();
  const start = performance.now();
  const end = start + ms;
  let calls = 0;
  const loop = async () => {
    for (let now = performance.now(); now < end; ) {
      await call();
      const done = performance.now();
      latencies.add(done - now);
      calls++;
      now = done;
    }
  };
  await Promise.all(Array.from({ length: callers }, loop));
  const rate = (calls / (performance.now() - start)) * 1000;
  return { rate, calls, cpuPerCallUs: ((await cpuNow()) - cpuBefore) / calls, latencies };
}

/** The id and title of a workload run with the server in this process (1) or its own (2). */
export function named(id: string, title: string, processes: Processes): { id: string; title: string } {
  return processes === 1 ? { id, title } : { id: `${id}-2p`, title: `${title}, two processes` };
}
