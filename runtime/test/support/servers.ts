import * as grpc from "@grpc/grpc-js";
import { TunnelServiceClient } from "../../src/index.js";

/** A real grpc-js server on an ephemeral loopback port. */
export interface TestServer {
  server: grpc.Server;
  port: number;
  address: string;
  /** Shuts the server down at once (open calls are cut). */
  kill(): void;
}

export async function startServer(
  register: (server: grpc.Server) => void,
  options: grpc.ServerOptions = {},
  /** Loopback port to listen on; 0 (the default) picks a free one. */
  listenPort = 0,
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<TestServer> {
  const server = new grpc.Server(options);
  register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${listenPort}`, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port, address: `127.0.0.1:${port}`, kill: () => server.forceShutdown() };
}

export function tunnelClient(
  address: string,
  options: grpc.ClientOptions = {},
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): TunnelServiceClient {
  return new TunnelServiceClient(address, credentials, options);
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

/** A bidi method of raw bytes at `path`, for tests of grpc-js calls themselves. */
export function bytesBidiMethod(path: string) {
  const same = (b: Buffer) => b;
  return {
    path,
    requestStream: true,
    responseStream: true,
    requestSerialize: same,
    requestDeserialize: same,
    responseSerialize: same,
    responseDeserialize: same,
  } as const;
}
