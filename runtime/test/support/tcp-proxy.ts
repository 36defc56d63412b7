import * as net from "node:net";

type Direction = "up" | "down";

/**
 * A loopback TCP proxy in front of a server, for fault injection: it can
 * stall the connection (stop forwarding while keeping sockets open), cut it
 * (destroy every socket), cut it once a given number of bytes flowed in
 * one direction ("up": client to server, "down": server to client), black-hole
 * the connections open now while new ones flow, or send new connections to
 * another server (a load balancer moving on).
 *
 * In front of several servers it is a round-robin TCP load balancer: each
 * new connection goes to the next target, and to the one after it when a
 * target refuses the connection (a dead server), as a balancer's health
 * checks would arrange.
 */
export class TcpProxy {
  readonly port: number;
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private stalled = false;
  private readonly forwarded: Record<Direction, number> = { up: 0, down: 0 };
  private cutAt: { direction: Direction; bytes: number; done: () => void } | undefined;

  private targets: number[];
  private nextTarget = 0;

  private constructor(server: net.Server, port: number, targets: number[]) {
    this.server = server;
    this.port = port;
    this.targets = targets;
  }

  /** A proxy in front of `target`, or a round-robin balancer in front of several. */
  static async start(target: number | number[]): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = net.createServer((client) => proxy.accept(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port, typeof target === "number" ? [target] : [...target]);
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
    this.targets = [targetPort];
  }

  /** Balances connections made from now on over `targetPorts` (open ones stay where they are). */
  setTargets(targetPorts: number[]): void {
    this.targets = [...targetPorts];
  }

  /** The ports new connections go to. */
  get targetPorts(): readonly number[] {
    return this.targets;
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
    client.pause(); // until a target took the connection
    client.on("error", () => client.destroy());
    this.connect(client, this.targets.length);
  }

  /** Connects `client` to the next target; a target that refuses passes it on, `tries` times at most. */
  private connect(client: net.Socket, tries: number): void {
    if (tries <= 0 || this.targets.length === 0 || client.destroyed) {
      client.destroy();
      return;
    }
    const target = this.targets[this.nextTarget++ % this.targets.length];
    const upstream = net.connect(target, "127.0.0.1");
    const refused = () => this.connect(client, tries - 1);
    upstream.once("error", refused);
    upstream.once("connect", () => {
      upstream.off("error", refused);
      this.pair(client, upstream);
    });
  }

  private pair(client: net.Socket, upstream: net.Socket): void {
    // Forward small frames (window updates, pings) at once, as the endpoints themselves do (grpc-js sets TCP_NODELAY):
    // Nagle's delay in the middle would stall flow-controlled streams at every window.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
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
    if (client.destroyed) {
      close();
      return;
    }
    if (this.stalled) {
      upstream.pause();
    } else {
      client.resume();
    }
  }
}
