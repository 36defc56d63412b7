import { createRequire } from "node:module";
import * as os from "node:os";

export interface MachineInfo {
  node: string;
  v8: string;
  grpcJs: string;
  platform: string;
  release: string;
  arch: string;
  cpuModel: string;
  cpus: number;
  totalMemoryGiB: number;
  /** 1-minute load average when the run started and ended (includes this run). */
  loadAverageStart: number;
  loadAverageEnd: number;
  note: string;
}

function grpcJsVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require("@grpc/grpc-js/package.json") as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** What the numbers were measured on; load is sampled at start and end. */
export function machineInfo(loadAverageStart: number): MachineInfo {
  const cpus = os.cpus();
  const load = os.loadavg()[0]!;
  return {
    node: process.version,
    v8: process.versions.v8,
    grpcJs: grpcJsVersion(),
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpus: cpus.length,
    totalMemoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAverageStart,
    loadAverageEnd: load,
    note:
      `loopback; "two processes" workloads run the server in a child process, the others run both ends in one Node process (one event loop does both ends' work); ` +
      `1-min load average ${loadAverageStart.toFixed(2)} at start, ${load.toFixed(2)} at end on ${cpus.length} CPUs` +
      (loadAverageStart > 1 ? " (other work was running on the machine: expect noise)" : ""),
  };
}
