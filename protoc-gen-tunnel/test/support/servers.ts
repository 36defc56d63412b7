import * as grpc from "@grpc/grpc-js";
import { TunnelServiceClient } from "@protoc-gen-tunnel/runtime";

/** A real grpc-js server on an ephemeral loopback port. */
export interface TestServer {
  address: string;
  kill(): void;
}

export async function startServer(register: (server: grpc.Server) => void): Promise<TestServer> {
  const server = new grpc.Server();
  register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { address: `127.0.0.1:${port}`, kill: () => server.forceShutdown() };
}

export function tunnelClient(address: string): TunnelServiceClient {
  return new TunnelServiceClient(address, grpc.credentials.createInsecure());
}

/** Runs cleanups in reverse order; collects them during a test. */
export class Cleanup {
  private readonly tasks: Array<() => unknown> = [];
  add(task: () => unknown): void {
    this.tasks.push(task);
  }
  async run(): Promise<void> {
    for (const task of this.tasks.splice(0).reverse()) {
      await task();
    }
  }
}
