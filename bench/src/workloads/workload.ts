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
export async function closedLoop(ms: number, callers: number, call: () => Promise<unknown>): Promise<LoadResult> {
  const latencies = new LatencyRecorder();
  const cpu = process.cpuUsage();
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
  return { rate: (calls / (performance.now() - start)) * 1000, cpuPerCallUs: cpuMicros(cpu) / calls, latencies };
}

/** CPU time (user + system, all threads) since `since`, in µs. */
export function cpuMicros(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}
