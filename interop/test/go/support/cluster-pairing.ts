import { randomBytes, randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { tunnelServerOptions } from "@protoc-gen-tunnel/runtime";
import { joinCluster } from "@protoc-gen-tunnel/runtime/cluster";
import type { GoInteropPrograms } from "../../../../scripts/go-tools.mjs";
import { bind, goEnd, type Pairing, type Revision, startGoAgent, startTsHub, type Teardown, tsEnd } from "./pairings.js";
import { runTsCall } from "./ts-caller.js";

/** The relay secret of the matrix's clusters (a fresh one per run). */
const SECRET = `go-interop-${randomUUID()}`;

/** A replica in cluster mode: its hub for agents and its relay listener, joined on Redis. */
async function startReplica(name: string, namespace: string, redisUrl: string, revision: Revision, teardown: Teardown) {
  const relayServer = new grpc.Server(tunnelServerOptions());
  const relayAddress = await bind(relayServer);
  teardown.add(() => relayServer.forceShutdown());
  const cluster = await joinCluster({ redisUrl, namespace, replicaId: name, relay: { address: relayAddress, secret: SECRET } });
  teardown.add(() => cluster.close());
  relayServer.addService(...cluster.relayService());
  return { cluster, ...(await startTsHub(revision, teardown, cluster)) };
}

/**
 * Two TypeScript replicas in cluster mode on one Redis, the Go agent
 * connected to the first: the TypeScript caller calls the agent's key on
 * the second, which relays each call to the first.
 */
export async function withCluster(programs: GoInteropPrograms, revision: Revision, teardown: Teardown, redisUrl: string): Promise<Pairing> {
  const namespace = `go-interop-${randomUUID()}`;
  const owner = await startReplica("owner", namespace, redisUrl, revision, teardown);
  const entry = await startReplica("entry", namespace, redisUrl, revision, teardown);
  const key = randomBytes(8).toString("hex");
  const agent = await startGoAgent(programs, revision, teardown, owner.address, key);
  // Cluster-wide: resolves once the owner published the key.
  const channel = entry.handler.keyAsChannel(key);
  await channel.waitForReady({ signal: AbortSignal.timeout(10_000) });
  const caller = tsEnd();
  return {
    name: `TypeScript caller on a second replica → Go agent, relayed, revision ${revision}`,
    direction: "relayed",
    revision,
    caller,
    server: goEnd(agent),
    call: (spec) => runTsCall(channel, spec, caller.log, caller.releases),
    tap: owner.tap,
  };
}
