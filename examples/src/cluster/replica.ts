import * as grpc from "@grpc/grpc-js";
import { Code, TunnelError, TunnelServiceHandler, tunnelServerOptions, type TunnelChannel } from "@protoc-gen-tunnel/runtime";
import { joinCluster } from "@protoc-gen-tunnel/runtime/cluster";

/** One replica of the control server, in cluster mode. */
export interface Replica {
  name: string;
  /** The agents' port (behind the load balancer). */
  port: number;
  handler: TunnelServiceHandler<string>;
  /** The rolling-deploy recipe: drain, leave the cluster, stop both servers. */
  stop(): Promise<void>;
}

export interface ReplicaConfig {
  name: string;
  redisUrl: string;
  /** Shared by every replica: relay tunnels carry it. */
  relaySecret: string;
  /** The address this replica is reached at (a pod IP in a real deployment). */
  host: string;
  /** A device's agent opened its reverse tunnel here. */
  onDeviceConnected: (device: string) => void;
}

/**
 * A replica: the agents' port, its relay listener on a port of its own, and
 * a TunnelServiceHandler in cluster mode. `keyAsChannel(deviceId)` (and so
 * `agentServiceClientForKey`) reaches a device on any replica.
 */
export async function startReplica(config: ReplicaConfig): Promise<Replica> {
  const { name, redisUrl, relaySecret, host, onDeviceConnected } = config;
  const server = new grpc.Server(tunnelServerOptions()); // agents dial this one, through the load balancer
  const relayServer = new grpc.Server(tunnelServerOptions()); // only the other replicas dial this one
  const port = await bind(server, `${host}:0`);
  const relayPort = await bind(relayServer, `${host}:0`);
  const cluster = await joinCluster({
    redisUrl,
    replicaId: name,
    relay: { address: `${host}:${relayPort}`, secret: relaySecret },
  });
  relayServer.addService(...cluster.relayService());
  const onReverseTunnelOpen = (tunnel: TunnelChannel) => onDeviceConnected(deviceId(tunnel));
  const handler = new TunnelServiceHandler<string>({ affinityKey: deviceId, cluster, onReverseTunnelOpen });
  server.addService(...handler.service());
  return {
    name,
    port,
    handler,
    async stop() {
      const stopped = Promise.all([shutdown(server), shutdown(relayServer)]);
      await handler.drain({ graceMs: 5_000 }); // withdraws this replica's keys; running and relayed calls finish
      await cluster.close(); // leaves the directory, closes the relay tunnels to the other replicas
      await stopped;
    },
  };
}

/** The affinity key: the device ID the agent sent (a real server would take it from the client certificate). */
function deviceId(tunnel: TunnelChannel): string {
  const id = tunnel.metadata.get("device-id")[0];
  if (typeof id !== "string" || id === "") {
    throw new TunnelError(Code.UNAUTHENTICATED, "device-id metadata is required");
  }
  return id;
}

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
}

function shutdown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => server.tryShutdown(() => resolve()));
}
