// The HTTP/2 window a tunnel server grants a connection that carries a
// tunnel RPC (limits.http2WindowBytes), seen from a raw HTTP/2 client: the
// SETTINGS and connection window the server sent it.
import { afterEach, describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { TunnelServiceHandler } from "../src/index.js";
import type { TunnelLimits } from "../src/engine/limits.js";
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
