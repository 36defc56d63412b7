import { Code, TunnelError, TunnelServiceHandler, tunnelServerOptions, type TunnelChannel } from "@protoc-gen-tunnel/runtime";
import { listen, type RunningServer } from "../shared/grpc.js";

/** The control server: devices open reverse tunnels to it, keyed by device ID. */
export interface ControlServer {
  address: string;
  handler: TunnelServiceHandler<string>;
  stop(): Promise<void>;
}

/** The control server's handler: reverse tunnels keyed by the device ID their agent sent. */
export function controlHandler(log: (line: string) => void): TunnelServiceHandler<string> {
  return new TunnelServiceHandler<string>({
    // The affinity key of each reverse tunnel: the device ID the agent sent.
    // A real server would take it from the agent's client certificate.
    affinityKey: (tunnel) => {
      const id = tunnel.metadata.get("device-id")[0];
      if (typeof id !== "string" || id === "") {
        throw new TunnelError(Code.UNAUTHENTICATED, "device-id metadata is required");
      }
      return id;
    },
    onReverseTunnelOpen: (tunnel) => log(`control: ${deviceOf(tunnel)} dialed in and opened a reverse tunnel`),
  });
}

export async function startControlServer(log: (line: string) => void): Promise<ControlServer> {
  const handler = controlHandler(log);
  // Keepalive pings: an agent whose connection died leaves the registry within 30 s.
  const server: RunningServer = await listen((s) => s.addService(...handler.service()), tunnelServerOptions());
  return {
    address: server.address,
    handler,
    // The rolling-deploy recipe: stop accepting connections, let running
    // calls finish and end every tunnel (agents reconnect elsewhere), and the
    // server's shutdown completes by itself.
    async stop() {
      const stopped = server.shutdown();
      await handler.drain({ graceMs: 2_000 });
      await stopped;
    },
  };
}

function deviceOf(tunnel: TunnelChannel): string {
  return String(tunnel.metadata.get("device-id")[0]);
}
