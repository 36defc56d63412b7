import * as net from "node:net";

/**
 * A loopback forwarder to Redis that can be switched off: existing
 * connections are cut and new ones are closed at once (Redis unreachable,
 * its data kept).
 */
export class RedisGate {
  private open = true;
  private readonly sockets = new Set<net.Socket>();
  private constructor(
    private readonly server: net.Server,
    readonly url: string,
  ) {}

  static async start(targetPort: number): Promise<RedisGate> {
    let gate!: RedisGate;
    const server = net.createServer((client) => gate.accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    gate = new RedisGate(server, `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    return gate;
  }

  down(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
  }

  up(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.down();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket, targetPort: number): void {
    if (!this.open) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, "127.0.0.1");
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket
        .on("error", () => {})
        .on("close", () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
