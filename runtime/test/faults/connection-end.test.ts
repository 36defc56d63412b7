// How a tunnel ended, as the network server reports it, when its connection
// dies: a tunnel whose peer vanished (keepalive gave up on it, its socket was
// destroyed, its process was killed) ends with CANCELLED in `done`, in the
// close hook and in the diagnostics close event ("failed"), never as a clean
// end; a peer that half-closes its tunnel gracefully still ends it cleanly.
import { randomUUID } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, openTunnel, type TunnelChannel, TunnelServiceHandler, tunnelServerOptions, unaryCall } from "../../src/index.js";
import type { TunnelCloseEvent } from "../../src/protocol.js";
import { type Recorded, recordDiagnostics, taggedWith } from "../support/diagnostics.js";
import { startChildProcess } from "../support/child-process.js";
import { type Hub, startAgent, startHub } from "../support/reverse.js";
import { Cleanup, startServer, tunnelClient } from "../support/servers.js";
import { SHORT_KEEPALIVE } from "../support/short-keepalive.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import { expectNoLeaksAfterEach } from "./leaks.js";

const cleanup = new Cleanup();
expectNoLeaksAfterEach(cleanup);

const SHORT = SHORT_KEEPALIVE;

/** The close event of the tunnel end with `role` (reverse tunnels: the network server is "client"). */
function closeEventOf(log: Recorded[], role: "client" | "server"): TunnelCloseEvent {
  const found = log.find((i) => i.kind === "tunnel:close" && i.tunnel.role === role);
  if (found?.kind !== "tunnel:close") {
    throw new Error(`no ${role} tunnel:close`);
  }
  return found.event;
}

/** A hub (keepalive `serverOptions`) behind a proxy, with one agent dialing through it; diagnostics of the agent's tunnel. */
async function proxiedAgent(serverOptions: grpc.ServerOptions = SHORT) {
  const mark = randomUUID();
  const log = recordDiagnostics(cleanup, taggedWith("test-run", mark));
  const hub = await startHub<string>(cleanup, { serverOptions: tunnelServerOptions(serverOptions) });
  const proxy = await TcpProxy.start(hub.port);
  cleanup.add(() => proxy.close());
  const agent = startAgent(cleanup, proxy.address, { name: "a1", serve: { metadata: { "test-run": mark } } });
  const tunnel = await hub.tunnelOf("a1");
  return { log, hub, proxy, agent, tunnel };
}

/** A forward tunnel server (keepalive `serverOptions`) behind a proxy, with one tunnel through it; diagnostics of that tunnel. */
async function proxiedForwardTunnel(serverOptions: grpc.ServerOptions, clientOptions: grpc.ClientOptions = {}) {
  const mark = randomUUID();
  const log = recordDiagnostics(cleanup, taggedWith("test-run", mark));
  const handler = new TunnelServiceHandler();
  handler.registerService(TestService, { unary: () => ({}) });
  const server = await startServer((s) => s.addService(...handler.service()), tunnelServerOptions(serverOptions));
  cleanup.add(() => server.kill());
  const proxy = await TcpProxy.start(server.port);
  cleanup.add(() => proxy.close());
  const client = tunnelClient(proxy.address, clientOptions);
  cleanup.add(() => client.close());
  const tunnel = await openTunnel(client, { metadata: { "test-run": mark } });
  cleanup.add(() => tunnel.close());
  await unaryCall(tunnel, TestService.method.unary, {});
  return { log, handler, proxy, tunnel };
}

/** What the hub reported for `tunnel`'s end: its close hook ran, and how `done` settled. */
async function hubEnd(hub: Hub<string>, tunnel: TunnelChannel) {
  await hub.closed.waitFor((t) => t === tunnel);
  return (await tunnel.done).error;
}

describe("a reverse tunnel whose connection dies is reported broken on the network server", () => {
  it("keepalive gives up on a black-holed agent: done, the close hook and the close event say CANCELLED, not a clean end", async () => {
    const { log, hub, proxy, tunnel } = await proxiedAgent();
    proxy.blackHole();
    expect(await hubEnd(hub, tunnel)).toMatchObject({ code: Code.CANCELLED });
    await log.waitFor((i) => i.kind === "tunnel:close" && i.tunnel.role === "client");
    const closed = closeEventOf(log.items, "client");
    expect(closed.reason).toBe("failed");
    expect(closed.error).toMatchObject({ code: Code.CANCELLED });
  });

  it("a destroyed socket: CANCELLED", async () => {
    const { hub, proxy, tunnel } = await proxiedAgent({});
    proxy.cut();
    expect(await hubEnd(hub, tunnel)).toMatchObject({ code: Code.CANCELLED });
  });

  it("the agent process killed with SIGKILL: CANCELLED", async () => {
    const mark = randomUUID();
    const log = recordDiagnostics(cleanup, taggedWith("test-run", mark));
    const hub = await startHub<string>(cleanup);
    const child = await childClient("reverse", hub.port, mark);
    const tunnel = await hub.tunnelOf(mark);
    child.kill("SIGKILL");
    expect(await hubEnd(hub, tunnel)).toMatchObject({ code: Code.CANCELLED });
    await log.waitFor((i) => i.kind === "tunnel:close" && i.tunnel.role === "client");
    expect(closeEventOf(log.items, "client").reason).toBe("failed");
  });

  it("an agent that stops gracefully (half-closes its tunnel) still ends it cleanly: peer-closed, no error", async () => {
    const { log, hub, agent, tunnel } = await proxiedAgent();
    agent.rts.stop();
    expect(await hubEnd(hub, tunnel)).toBeUndefined();
    await log.waitForCount(2, (i) => i.kind === "tunnel:close");
    expect(closeEventOf(log.items, "client")).toMatchObject({ reason: "peer-closed", error: undefined });
    expect(closeEventOf(log.items, "server")).toMatchObject({ reason: "closed", error: undefined });
  });
});

describe("a forward tunnel whose connection dies is reported broken on both ends", () => {
  it("the server's keepalive gives up on a black-holed client: its close event says failed, CANCELLED", async () => {
    const { log, handler, proxy } = await proxiedForwardTunnel(SHORT);
    expect(handler.listTunnels()).toHaveLength(1);
    proxy.blackHole();
    await log.waitFor((i) => i.kind === "tunnel:close" && i.tunnel.role === "server");
    const closed = closeEventOf(log.items, "server");
    expect(closed.reason).toBe("failed");
    expect(closed.error).toMatchObject({ code: Code.CANCELLED });
    expect(handler.listTunnels()).toEqual([]);
  });

  it("the client's keepalive gives up on a black-holed server: the client's tunnel ends UNAVAILABLE", async () => {
    const { log, proxy, tunnel } = await proxiedForwardTunnel({ "grpc.keepalive_time_ms": 60_000 }, SHORT);
    proxy.blackHole();
    expect((await tunnel.done).error).toMatchObject({ code: Code.UNAVAILABLE });
    await log.waitFor((i) => i.kind === "tunnel:close" && i.tunnel.role === "client");
    expect(closeEventOf(log.items, "client").reason).toBe("failed");
  });

  it("the client process killed with SIGKILL: the server's close event says failed, CANCELLED", async () => {
    const mark = randomUUID();
    const log = recordDiagnostics(cleanup, taggedWith("test-run", mark));
    const handler = new TunnelServiceHandler();
    handler.registerService(TestService, { unary: () => ({}) });
    const server = await startServer((s) => s.addService(...handler.service()));
    cleanup.add(() => server.kill());
    const child = await childClient("forward", server.port, mark);
    await log.waitFor((i) => i.kind === "tunnel:open");
    child.kill("SIGKILL");
    await log.waitFor((i) => i.kind === "tunnel:close");
    expect(closeEventOf(log.items, "server")).toMatchObject({ reason: "failed", error: { code: Code.CANCELLED } });
  });

  it("a client that closes its tunnel (half-closes the tunnel RPC) still ends it cleanly on the server: peer-closed, no error", async () => {
    const { log, tunnel } = await proxiedForwardTunnel(SHORT);
    tunnel.close();
    await log.waitForCount(2, (i) => i.kind === "tunnel:close");
    expect(closeEventOf(log.items, "server")).toMatchObject({ reason: "peer-closed", error: undefined });
    expect((await tunnel.done).error).toBeUndefined();
  });
});

/** Starts child-client.mjs (`mode`) against `port`, tagged `mark`; resolves once its tunnel is open. */
async function childClient(mode: "reverse" | "forward", port: number, mark: string) {
  const script = new URL("./child-client.mjs", import.meta.url);
  return (await startChildProcess(cleanup, script, [mode, String(port), mark], /^READY$/)).child;
}
