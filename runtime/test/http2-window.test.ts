// The HTTP/2 windows of tunnel connections: what a tunnel server grants a
// connection that carries a tunnel RPC (limits.http2WindowBytes), seen from
// a raw HTTP/2 client, and what a TunnelServiceClient grants, seen from a
// raw HTTP/2 server: the SETTINGS and connection window each peer got.
import { once } from "node:events";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { PassThrough } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { TunnelServiceClient, TunnelServiceHandler } from "../src/index.js";
import type { TunnelLimits } from "../src/engine/limits.js";
import { PAUSED_READ_AHEAD_BYTES } from "../src/engine/memory-costs.js";
import type { ClientToServer, ServerToClient } from "../src/gen/grpctunnel/v1/tunnel_pb.js";
import { clientCallConn, serverCallConn } from "../src/transport/grpc-conn.js";
import { clientStreamWindow as clientStreamWindowOf } from "../src/transport/tunnel-service.js";
import { H2Connection } from "./support/h2-tunnel.js";
import { Cleanup, startServer } from "./support/servers.js";

const MiB = 1024 * 1024;
const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function connection(limits?: Partial<TunnelLimits>): Promise<H2Connection> {
  const handler = new TunnelServiceHandler({ limits });
  handler.registerService(TestService, {});
  const server = await startServer((s) => s.addService(...handler.service()));
  cleanup.add(() => server.kill());
  const h2 = new H2Connection(server.address);
  cleanup.add(() => h2.close());
  return h2;
}

/** The stream window the server granted, and the connection window this client may send into. */
function granted(h2: H2Connection): { stream: number | undefined; connection: number | undefined } {
  return { stream: h2.session.remoteSettings.initialWindowSize, connection: h2.session.state.remoteWindowSize };
}

describe("the HTTP/2 window of a tunnel server's connections", () => {
  it("grants 1 MiB per stream and 2 MiB for the connection once a tunnel RPC is admitted", async () => {
    const h2 = await connection();
    const tunnel = h2.open();
    // The SETTINGS and the window update go out before the response headers, on the same connection.
    expect(await tunnel.admitted).toBe(true);
    expect(granted(h2)).toEqual({ stream: MiB, connection: 2 * MiB });
    // A second tunnel RPC on the connection changes nothing.
    expect(await h2.open().admitted).toBe(true);
    expect(granted(h2)).toEqual({ stream: MiB, connection: 2 * MiB });
  });

  it("grants what http2WindowBytes says", async () => {
    const h2 = await connection({ http2WindowBytes: 3 * MiB });
    expect(await h2.open().admitted).toBe(true);
    expect(granted(h2)).toEqual({ stream: 3 * MiB, connection: 6 * MiB });
  });

  it("keeps HTTP/2's default window with http2WindowBytes at 65,535", async () => {
    const h2 = await connection({ http2WindowBytes: 65_535 });
    expect(await h2.open().admitted).toBe(true);
    expect(granted(h2).stream).toBe(65_535);
    expect(granted(h2).connection).toBeLessThan(MiB);
  });

  it("grants nothing to a connection whose only calls are not tunnel RPCs, or refused ones", async () => {
    const h2 = await connection();
    const other = h2.open("/some.Service/Method");
    expect(await other.status).toBe(12); // UNIMPLEMENTED: the server has no such method
    const compressed = h2.open(undefined, { "grpc-encoding": "gzip" });
    expect(await compressed.status).toBe(12); // compressed tunnel RPCs are refused before admission
    expect(granted(h2).stream).toBe(65_535);
    expect(granted(h2).connection).toBeLessThan(MiB);
    // The first admitted one does.
    expect(await h2.open().admitted).toBe(true);
    expect(granted(h2)).toEqual({ stream: MiB, connection: 2 * MiB });
  });
});

/** The stream window a TunnelServiceClient made with `options` announces to the server it connects to. */
async function clientStreamWindow(options?: grpc.ClientOptions): Promise<number | undefined> {
  const server = http2.createServer();
  server.on("session", (session: http2.ServerHttp2Session) => cleanup.add(() => session.destroy()));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanup.add(() => new Promise((resolve) => server.close(resolve)));
  const client = new TunnelServiceClient(`127.0.0.1:${(server.address() as AddressInfo).port}`, grpc.credentials.createInsecure(), options);
  cleanup.add(() => client.close());
  const session = once(server, "session") as Promise<[http2.ServerHttp2Session]>;
  client.waitForReady(Date.now() + 10_000, () => {}); // connects
  const [connected] = await session;
  // grpc-js announces its window in its first SETTINGS, with the connection preface.
  const [settings] = (await once(connected, "remoteSettings")) as [http2.Settings];
  return settings.initialWindowSize;
}

describe("the HTTP/2 window of a TunnelServiceClient's connections", () => {
  it("is 1 MiB per stream by default", async () => {
    expect(await clientStreamWindow()).toBe(1024 * 1024);
  });

  it("is what grpc-node.flow_control_window says, when given", async () => {
    expect(await clientStreamWindow({ "grpc-node.flow_control_window": 65_535 })).toBe(65_535);
    expect(await clientStreamWindow({ "grpc-node.flow_control_window": 4 * MiB })).toBe(4 * MiB);
  });
});

describe("what a paused tunnel is charged for its connection's window", () => {
  const call = () =>
    Object.assign(new PassThrough({ objectMode: true }), { cancel() {} }) as unknown as grpc.ClientDuplexStream<Buffer, Buffer>;

  it("is the window the connection grants plus a DATA frame, HTTP/2's default counted as 64 KiB", () => {
    expect(clientCallConn(call(), undefined, MiB).pausedReadAheadBytes).toBe(MiB + 16 * 1024);
    expect(clientCallConn(call()).pausedReadAheadBytes).toBe(PAUSED_READ_AHEAD_BYTES);
    expect(PAUSED_READ_AHEAD_BYTES).toBe(80 * 1024);
    const serverCall = call() as unknown as grpc.ServerDuplexStream<ClientToServer, ServerToClient>;
    expect(serverCallConn(serverCall, undefined, 3 * MiB).pausedReadAheadBytes).toBe(3 * MiB + 16 * 1024);
  });

  it("knows a TunnelServiceClient's window, and not a plain grpc-js client's", () => {
    const address = "127.0.0.1:1";
    const tunnelClient = new TunnelServiceClient(address, grpc.credentials.createInsecure());
    const smaller = new TunnelServiceClient(address, grpc.credentials.createInsecure(), { "grpc-node.flow_control_window": 100_000 });
    const plain = new grpc.Client(address, grpc.credentials.createInsecure());
    cleanup.add(() => {
      for (const client of [tunnelClient, smaller, plain]) client.close();
    });
    expect([clientStreamWindowOf(tunnelClient), clientStreamWindowOf(smaller), clientStreamWindowOf(plain)]).toEqual([
      MiB,
      100_000,
      undefined,
    ]);
  });
});
