import * as net from "node:net";

/** A round-robin TCP load balancer on loopback, standing in for a real one in front of the replicas. */
export interface Balancer {
  address: string;
  /** The replica ports new connections go to (a drained replica leaves first). */
  ports: number[];
  close(): Promise<void>;
}

export async function startBalancer(ports: number[]): Promise<Balancer> {
  const sockets = new Set<net.Socket>();
  let next = 0;
  const balancer: Balancer = { address: "", ports: [...ports], close };
  const server = net.createServer((client) => {
    const port = balancer.ports[next++ % balancer.ports.length];
    const upstream = net.connect(port, "127.0.0.1");
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  balancer.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  function close(): Promise<void> {
    for (const socket of sockets) {
      socket.destroy();
    }
    return new Promise((resolve) => server.close(() => resolve()));
  }
  return balancer;
}
