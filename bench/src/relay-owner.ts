// The owner replica of the relay workload, in a worker thread (an event
// loop of its own, as a replica has a machine of its own): a cluster-mode
// replica holding every agent's tunnel, the agents, and the local calls.
import { parentPort, workerData } from "node:worker_threads";
import { TestService } from "@protoc-gen-tunnel/interop";
import { createTunnelClient } from "@protoc-gen-tunnel/runtime";
import { startBenchAgents, startBenchReplica, type ClusterSettings } from "./relay-fixtures.js";
import { payloadOf } from "./service.js";
import { threadCpuMicros } from "./thread-cpu.js";
import { closedLoop } from "./workloads/workload.js";

/** What the owner is asked: a sample of local calls, the CPU time its thread has run, or to stop. */
export type OwnerRequest = { op: "load"; sampleMs: number; callers: number } | { op: "cpu" } | { op: "close" };

/** A sample of calls: calls/s with the callers asked for, latency p50 with one. */
export interface RelayLoad {
  rate: number;
  p50: number;
  /** CPU time of the whole process (both replicas' threads, the agents') per call at full load, µs. */
  cpuPerCallUs: number;
  /** CPU time of the owner replica's thread (with its agents) per call at full load, µs; undefined where threads cannot be measured. */
  ownerCpuPerCallUs: number | undefined;
}

/** The owner thread's CPU time so far, µs (undefined where it cannot be measured). */
export interface OwnerCpu {
  cpuUs: number | undefined;
}

export type OwnerReply = { keys: string[] } | RelayLoad | OwnerCpu | { closed: true };

const PAYLOAD = payloadOf(100);

/**
 * Closed-loop unary load over `clients` in turn: calls/s and CPU per call
 * with `callers` callers (`ownerCpu` reads the owner thread's CPU time),
 * then latency p50 with one.
 */
export async function relayLoad(
  clients: ReturnType<typeof createTunnelClient<typeof TestService>>[],
  sampleMs: number,
  callers: number,
  ownerCpu: () => Promise<number | undefined>,
): Promise<RelayLoad> {
  let next = 0;
  const call = () => clients[next++ % clients.length]!.unary({ payload: PAYLOAD });
  const ownerBefore = await ownerCpu();
  const load = await closedLoop(sampleMs, callers, call);
  const ownerAfter = await ownerCpu();
  const one = await closedLoop(sampleMs, 1, call);
  return {
    rate: load.rate,
    p50: one.latencies.quantile(0.5),
    cpuPerCallUs: load.cpuPerCallUs,
    ownerCpuPerCallUs: ownerBefore === undefined || ownerAfter === undefined ? undefined : (ownerAfter - ownerBefore) / load.calls,
  };
}

if (parentPort !== null) {
  const port = parentPort;
  const { settings, agents, revisionZero } = workerData as { settings: ClusterSettings; agents: number; revisionZero: boolean };
  const owner = await startBenchReplica(settings);
  const started = startBenchAgents(owner.address, agents, revisionZero);
  await Promise.all(started.keys.map((key) => owner.handler.keyAsChannel(key).waitForReady()));
  const clients = started.keys.map((key) => createTunnelClient(TestService, owner.handler.keyAsChannel(key)));
  port.on("message", async (request: OwnerRequest) => {
    if (request.op === "load") {
      const ownThread = async () => threadCpuMicros();
      port.postMessage((await relayLoad(clients, request.sampleMs, request.callers, ownThread)) satisfies OwnerReply);
    } else if (request.op === "cpu") {
      port.postMessage({ cpuUs: threadCpuMicros() } satisfies OwnerReply);
    } else {
      started.stop();
      await owner.close();
      port.postMessage({ closed: true } satisfies OwnerReply);
    }
  });
  port.postMessage({ keys: started.keys } satisfies OwnerReply);
}
