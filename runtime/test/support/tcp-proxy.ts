import * as net from "node:net";

type Direction = "up" | "down";

/**
 * A loopback TCP proxy in front of a server, for fault injection: it can
 * stall the connection (stop forwarding while keeping sockets open), cut it
 * (destroy every socket), cut it once a given number of bytes flowed in
 * one direction ("up": client to server, "down": server to client), black-hole
 * the connections open now while new ones flow, or send new connections to
 * another server (a load balancer moving on).
 */
export class TcpProxy {
  readonly port: number;
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private stalled = false;
  private readonly forwarded: Record<Direction, number> = { up: 0, down: 0 };
  private cutAt: { direction: Direction; bytes: number; done: () => void } | undefined;

  private constructor(
    server: net.Server,
    port: number,
    private targetPort: number,
  ) {
    this.server = server;
    this.port = port;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = net.createServer((client) => proxy.accept(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port, targetPort);
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  bytes(direction: Direction): number {
    return this.forwarded[direction];
  }

  /** Stops forwarding in both directions; the sockets stay open (a network stall). */
  stall(): void {
    this.stalled = true;
    for (const [a, b] of this.pairs) {
      a.pause();
      b.pause();
    }
  }

  /**
   * Stops forwarding on the connections open now, keeping their sockets open
   * (peers that went silent: a dead NAT mapping, a half-open connection);
   * connections made later flow normally.
   */
  blackHole(): void {
    for (const [a, b] of this.pairs) {
      a.pause();
      b.pause();
    }
  }

  /** Sends connections made from now on to `targetPort` (open ones stay where they are). */
  retarget(targetPort: number): void {
    this.targetPort = targetPort;
  }

  /** Destroys every connection at once (a broken network path). */
  cut(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  /** Cuts every connection once `bytes` more bytes have flowed in `direction`. */
  cutAfter(direction: Direction, bytes: number): Promise<void> {
    return new Promise((done) => {
      this.cutAt = { direction, bytes: this.forwarded[direction] + bytes, done };
    });
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, "127.0.0.1");
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const pipe = (from: net.Socket, to: net.Socket, direction: Direction) => {
      from.on("data", (data: Buffer) => {
        this.forwarded[direction] += data.length;
        to.write(data);
        const cut = this.cutAt;
        if (cut && cut.direction === direction && this.forwarded[direction] >= cut.bytes) {
          this.cutAt = undefined;
          this.cut();
          cut.done();
        }
      });
    };
    pipe(client, upstream, "up");
    pipe(upstream, client, "down");
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    if (this.stalled) {
      client.pause();
      upstream.pause();
    }
  }
}
