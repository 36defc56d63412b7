import { readFileSync } from "node:fs";

/**
 * CPU time the calling thread has run, µs, from Linux's
 * /proc/thread-self/schedstat (nanoseconds on the CPU); undefined where
 * that does not exist. `process.cpuUsage()` counts every thread of the
 * process, and Node 20 has no per-thread figure of its own.
 */
export function threadCpuMicros(): number | undefined {
  try {
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ", 1)[0]) / 1000;
  } catch {
    return undefined;
  }
}
