// The owner replica of the relay workload, in a worker thread (an event
// loop of its own, as a replica has a machine of its own): a cluster-mode
// replica holding every agent's tunnel, the agents, and the local calls.
import { parentPort, workerData } from "node:worker_threads";
import { TestService } from "@protoc-gen-tunnel/interop";
import { createTunnelClient } from "@protoc-gen-tunnel/runtime";
import { startBenchAgents, startBenchReplica, type ClusterSettings } from "./relay-fixtures.js";
import { payloadOf } from "./service.js";
import { closedLoop } from "./workloads/workload.js";

/** What the owner is asked: a sample of local calls, or to stop. */
export type OwnerRequest = { op: "load"; sampleMs: number; callers: number } | { op: "close" };

/** A sample of calls: calls/s with the callers asked for, latency p50 with one. */
export interface RelayLoad {
  rate: number;
  p50: number;
}

export type OwnerReply = { keys: string[] } | RelayLoad | { closed: true };

const PAYLOAD = payloadOf(100);

/** Closed-loop unary load over `clients` in turn: calls/s with `callers` callers, then latency p50 with one. */
export async function relayLoad(
  clients: ReturnType<typeof createTunnelClient<typeof TestService>>[],
  sampleMs: number,
  callers: number,
): Promise<RelayLoad> {
  let next = 0;
  const call = () => clients[next++ % clients.length]!.unary({ payload: PAYLOAD });
  const load = await closedLoop(sampleMs, callers, call);
  const one = await closedLoop(sampleMs, 1, call);
  return { rate: load.rate, p50: one.latencies.quantile(0.5) };
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
      port.postMessage((await relayLoad(clients, request.sampleMs, request.callers)) satisfies OwnerReply);
    } else {
      started.stop();
      await owner.close();
      port.postMessage({ closed: true } satisfies OwnerReply);
    }
  });
  port.postMessage({ keys: started.keys } satisfies OwnerReply);
}
