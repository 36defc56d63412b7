import * as grpc from "@grpc/grpc-js";

/** A real grpc-js server on an ephemeral loopback port. */
export interface TestServer {
  server: grpc.Server;
  port: number;
  address: string;
}

export async function startServer(register: (server: grpc.Server) => void): Promise<TestServer> {
  const server = new grpc.Server();
  register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port, address: `127.0.0.1:${port}` };
}

/** Runs cleanups in reverse order of registration; collect them during a test, run them in afterEach. */
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
