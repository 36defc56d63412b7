import * as grpc from "@grpc/grpc-js";
import { TunnelServiceClient } from "@protoc-gen-tunnel/runtime";

/** A plaintext grpc-js server on an ephemeral loopback port. */
export interface RunningServer {
  address: string;
  port: number;
  /** Waits for open calls to end, then stops; cuts them after `graceMs`. */
  shutdown(graceMs?: number): Promise<void>;
}

export async function listen(register: (server: grpc.Server) => void, options: grpc.ServerOptions = {}): Promise<RunningServer> {
  const server = new grpc.Server(options);
  register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    port,
    shutdown: (graceMs = 2_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.forceShutdown(), graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/** A client for the tunnel service (plaintext: the demos stay on loopback). */
export function dialTunnelService(target: string, options: grpc.ClientOptions = {}): TunnelServiceClient {
  return new TunnelServiceClient(target, grpc.credentials.createInsecure(), options);
}
