/**
 * Replicas of a reverse-tunnel server in cluster mode, in this process: each
 * a hub (public grpc-js server with a TunnelServiceHandler) plus its relay
 * listener on a grpc-js server of its own, joined to one Redis under the
 * fixture's namespace.
 */
import { randomUUID } from "node:crypto";
import { TestService } from "@protoc-gen-tunnel/interop";
import { type AffinityDirectory, joinCluster, type JoinClusterOptions, type TunnelCluster } from "../../src/cluster.js";
import { serverStreamCall } from "../../src/index.js";
import type { ClusterFixture } from "./cluster.js";
import { TEST_LEASE_MS, TEST_REFRESH_MS } from "./cluster.js";
import { connectAgent, drain, Gate, startHub, type Hub, type HubOptions } from "./reverse.js";
import { type Cleanup, startServer, type TestServer } from "./servers.js";

export interface Replica extends Hub<string> {
  name: string;
  cluster: TunnelCluster;
  relay: TestServer;
}

export interface ReplicaOptions {
  /** Handler options besides the cluster. */
  hub?: Omit<HubOptions<string>, "cluster">;
  /** joinCluster options besides Redis, namespace, replica id and the relay address. */
  join?: Partial<JoinClusterOptions>;
  relay?: Partial<JoinClusterOptions["relay"]>;
  /** Wraps the replica's directory (e.g. to count its lookups). */
  directory?: (directory: AffinityDirectory) => AffinityDirectory;
}

/** One secret per test run; the auth tests use others on purpose. */
export const TEST_SECRET = `test-secret-${randomUUID()}`;

/** Starts a replica named `name` (its replica id) on the fixture's Redis and namespace. */
export async function startReplica(
  cleanup: Cleanup,
  fixture: ClusterFixture,
  name: string,
  options: ReplicaOptions = {},
): Promise<Replica> {
  const relay = await startServer(() => {});
  cleanup.add(() => relay.kill());
  const directory = await fixture.replica(name, { address: relay.address, leaseMs: TEST_LEASE_MS, refreshMs: TEST_REFRESH_MS });
  const cluster = await joinCluster({
    directory: options.directory?.(directory) ?? directory,
    ...options.join,
    relay: { address: relay.address, secret: TEST_SECRET, ...options.relay },
  });
  cleanup.add(() => cluster.close());
  relay.server.addService(...cluster.relayService());
  const hub = await startHub<string>(cleanup, { ...options.hub, cluster });
  return { ...hub, name, cluster, relay };
}

/**
 * Parks one call on agent "busy" for `key` on `replica`: the agent allows one
 * stream, so while `parked` runs its tunnel refuses every further call.
 * Releasing `gate` lets the parked call finish (one response).
 */
export async function parkBusyAgent(cleanup: Cleanup, replica: Replica, key: string) {
  const gate = new Gate();
  await connectAgent(cleanup, replica, {
    name: "busy",
    key,
    rts: { limits: { maxConcurrentStreams: 1 } },
    impl: { serverStream: gate.serverStream },
  });
  const parked = drain(serverStreamCall(replica.handler.keyAsChannel(key), TestService.method.serverStream, { count: 1 }));
  await gate.entered.promise;
  return { gate, parked };
}

/**
 * Replicas "a" and "b", with agent "agent-b" for key "K" on b whose server
 * streams wait at `gate` after their first response; b's route is published.
 */
export async function gatedAgentOnB(cleanup: Cleanup, fixture: ClusterFixture) {
  const a = await startReplica(cleanup, fixture, "a");
  const b = await startReplica(cleanup, fixture, "b");
  const gate = new Gate();
  await connectAgent(cleanup, b, { name: "agent-b", key: "K", impl: { serverStream: gate.serverStream } });
  await b.cluster.directory.flush();
  return { a, b, gate };
}
