import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { Worker } from "node:worker_threads";
import * as grpc from "@grpc/grpc-js";
import { TestService } from "@protoc-gen-tunnel/interop";
import { createTunnelClient, ReverseTunnelServer, TunnelServiceHandler, type TunnelChannel } from "@protoc-gen-tunnel/runtime";
import { joinCluster, type TunnelCluster } from "@protoc-gen-tunnel/runtime/cluster";
import { redisFromEnvOrStart } from "../../scripts/redis-server.mjs";
import type { BenchClient } from "./direct-client.js";
import { listen, tunnelServiceClient } from "./fixtures.js";
import type { OwnerCpu, OwnerReply, OwnerRequest, RelayLoad } from "./relay-owner.js";
import { benchServiceImpl } from "./service.js";

const AGENT_KEY = "agent-key";

/** Where the replicas meet. */
export interface ClusterSettings {
  redisUrl: string;
  namespace: string;
  secret: string;
}

/**
 * Two replicas in cluster mode on a Redis of their own, each with its own
 * event loop as replicas have their own machines: the owner, in a worker
 * thread, holds every agent's tunnel (its agents live there too), the
 * caller runs here. Local calls are made on the owner, relayed ones here.
 */
export interface RelaySetup {
  /** Runs closed-loop load of local calls on the owner (the replica holding the tunnels). */
  local(sampleMs: number, callers: number): Promise<RelayLoad>;
  /** One client per agent on the caller's replica: every call is relayed to the owner. */
  relayed: BenchClient[];
  /** CPU time the owner's thread has run, µs; undefined where threads cannot be measured. */
  ownerCpu(): Promise<number | undefined>;
  close(): Promise<void>;
}

/** A replica: a public grpc-js server with a cluster-mode handler, and its relay listener. */
export interface BenchReplica {
  handler: TunnelServiceHandler<string>;
  address: string;
  close(): Promise<void>;
}

export async function startBenchReplica(cluster: ClusterSettings): Promise<BenchReplica> {
  const relayServer = new grpc.Server();
  const relayAddress = await listen(relayServer);
  let membership: TunnelCluster;
  try {
    membership = await joinCluster({
      redisUrl: cluster.redisUrl,
      namespace: cluster.namespace,
      relay: { address: relayAddress, secret: cluster.secret },
    });
  } catch (e) {
    relayServer.forceShutdown();
    throw e;
  }
  relayServer.addService(...membership.relayService());
  const handler = new TunnelServiceHandler<string>({
    affinityKey: (tunnel: TunnelChannel) => String(tunnel.metadata.get(AGENT_KEY)[0]),
    cluster: membership,
  });
  const server = new grpc.Server();
  server.addService(...handler.service());
  const address = await listen(server);
  return {
    handler,
    address,
    async close() {
      server.forceShutdown();
      relayServer.forceShutdown();
      await membership.close();
    },
  };
}

/** Agents serving the bench service over reverse tunnels to `address`: their keys, and a stop. */
export function startBenchAgents(address: string, count: number, revisionZero: boolean): { keys: string[]; stop(): void } {
  const stop = new AbortController();
  setMaxListeners(count * 2, stop.signal);
  const stops: Array<() => void> = [() => stop.abort()];
  const keys = Array.from({ length: count }, (_, i) => `agent-${i}`);
  for (const key of keys) {
    const client = tunnelServiceClient(address);
    const rts = new ReverseTunnelServer(client, { disableFlowControl: revisionZero });
    rts.registerService(TestService, benchServiceImpl);
    stops.push(
      () => rts.stop(),
      () => client.close(),
    );
    void rts.serve({ metadata: { [AGENT_KEY]: key }, signal: stop.signal });
  }
  return {
    keys,
    stop: () => {
      for (const stopOne of stops) {
        stopOne();
      }
    },
  };
}

/** Starts Redis (REDIS_URL, or a redis-server of its own: failing with the command that installs it), the owner and the caller. */
export async function startRelay(agents: number, revisionZero: boolean): Promise<RelaySetup> {
  const redis = await redisFromEnvOrStart();
  const cleanups: Array<() => unknown> = [() => redis.stop()];
  const close = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      await cleanup();
    }
  };
  try {
    const settings: ClusterSettings = { redisUrl: redis.url, namespace: `bench-${randomUUID()}`, secret: randomUUID() };
    const owner = new OwnerWorker(settings, agents, revisionZero);
    cleanups.push(() => owner.close());
    const keys = await owner.ready;
    const caller = await startBenchReplica(settings);
    cleanups.push(() => caller.close());
    // Every key is visible from the caller's replica before the first measurement.
    await Promise.all(keys.map((key) => caller.handler.keyAsChannel(key).waitForReady({ signal: AbortSignal.timeout(30_000) })));
    return {
      local: (sampleMs, callers) => owner.request({ op: "load", sampleMs, callers }),
      relayed: keys.map((key) => createTunnelClient(TestService, caller.handler.keyAsChannel(key))),
      ownerCpu: async () => (await owner.request({ op: "cpu" })).cpuUs,
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** The owner replica and its agents, in a worker thread (relay-owner.ts). */
class OwnerWorker {
  readonly ready: Promise<string[]>;
  private readonly worker: Worker;

  constructor(settings: ClusterSettings, agents: number, revisionZero: boolean) {
    this.worker = new Worker(new URL("./relay-owner.js", import.meta.url), { workerData: { settings, agents, revisionZero } });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once("error", reject);
      this.worker.once("message", (reply: OwnerReply) => resolve((reply as { keys: string[] }).keys));
    });
  }

  /** One request at a time: the answer is the worker's next message. */
  request(request: OwnerRequest & { op: "load" }): Promise<RelayLoad>;
  request(request: OwnerRequest & { op: "cpu" }): Promise<OwnerCpu>;
  request(request: OwnerRequest): Promise<OwnerReply> {
    return new Promise((resolve) => {
      this.worker.once("message", resolve);
      this.worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.worker.once("message", () => resolve()));
    this.worker.postMessage({ op: "close" } satisfies OwnerRequest);
    await closed;
    await this.worker.terminate();
  }
}
