// Dead-peer detection: a connection that stops carrying anything without
// closing (a black hole: expired NAT mapping, vanished host) is noticed by
// keepalive pings on both ends within time + timeout, and an agent that
// reconnects while its old connection is still half-open is served at once.
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { TestService } from "@protoc-gen-tunnel/interop";
import { Code, TunnelServiceClient, type TunnelChannel, tunnelServerOptions, unaryCall } from "../../src/index.js";
import { type ServeResult, TUNNEL_CLIENT_KEEPALIVE } from "../../src/protocol.js";
import type { RetryPlan } from "../../src/protocol.js";
import { EventLog } from "../support/events.js";
import { servedBy, startAgent, startHub } from "../support/reverse.js";
import { Cleanup } from "../support/servers.js";
import { SHORT_KEEPALIVE } from "../support/short-keepalive.js";
import { TcpProxy } from "../support/tcp-proxy.js";
import { expectNoLeaksAfterEach } from "./leaks.js";

const cleanup = new Cleanup();
expectNoLeaksAfterEach(cleanup);

const SHORT = SHORT_KEEPALIVE;
const BOUND_MS = SHORT["grpc.keepalive_time_ms"] + SHORT["grpc.keepalive_timeout_ms"];
/** Timers and I/O on a loaded 2-core machine run late by up to this much. */
const SCHEDULING_SLACK_MS = 700;
const fastRedial: grpc.ClientOptions = { "grpc.initial_reconnect_backoff_ms": 20, "grpc.max_reconnect_backoff_ms": 100 };

/** A hub with `options`, and a proxy in front of it that the agents dial. */
async function proxiedHub(options: Parameters<typeof startHub<string>>[1] = {}) {
  const hub = await startHub<string>(cleanup, options);
  const proxy = await TcpProxy.start(hub.port);
  cleanup.add(() => proxy.close());
  return { hub, proxy };
}

describe("keepalive: dead connections are noticed", () => {
  it("TunnelServiceClient sends keepalive pings by default (bound 30 s), user options win; tunnelServerOptions likewise", () => {
    const internalOptions = (client: grpc.Client) =>
      (client.getChannel() as unknown as { internalChannel: { options: grpc.ChannelOptions } }).internalChannel.options;
    const credentials = grpc.credentials.createInsecure();
    const plain = new TunnelServiceClient("127.0.0.1:1", credentials);
    const tuned = new TunnelServiceClient("127.0.0.1:1", credentials, {
      "grpc.keepalive_time_ms": 5_000,
      "grpc.max_send_message_length": 7,
    });
    try {
      expect(internalOptions(plain)).toMatchObject(TUNNEL_CLIENT_KEEPALIVE);
      expect(internalOptions(tuned)).toMatchObject({
        "grpc.keepalive_time_ms": 5_000,
        "grpc.keepalive_timeout_ms": TUNNEL_CLIENT_KEEPALIVE["grpc.keepalive_timeout_ms"],
        "grpc.max_send_message_length": 7,
      });
    } finally {
      plain.close();
      tuned.close();
    }
    const bound = Number(TUNNEL_CLIENT_KEEPALIVE["grpc.keepalive_time_ms"]) + Number(TUNNEL_CLIENT_KEEPALIVE["grpc.keepalive_timeout_ms"]);
    expect(bound).toBeLessThanOrEqual(30_000);
    const server = tunnelServerOptions();
    expect(Number(server["grpc.keepalive_time_ms"]) + Number(server["grpc.keepalive_timeout_ms"])).toBeLessThanOrEqual(30_000);
    expect(tunnelServerOptions({ "grpc.keepalive_time_ms": 1_000, "grpc.max_concurrent_streams": 9 })).toMatchObject({
      "grpc.keepalive_time_ms": 1_000,
      "grpc.keepalive_timeout_ms": server["grpc.keepalive_timeout_ms"],
      "grpc.max_concurrent_streams": 9,
    });
  });

  it("the network server drops a black-holed agent from the registry within its keepalive bound", async () => {
    const { hub, proxy } = await proxiedHub({ serverOptions: tunnelServerOptions(SHORT) });
    // The agent keeps the default keepalive (20 s): it is the server that must notice here.
    startAgent(cleanup, proxy.address, { name: "a1" });
    const tunnel = await hub.tunnelOf("a1");
    expect(servedBy(await unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}))).toBe("a1");

    proxy.blackHole();
    const start = performance.now();
    await hub.closed.waitFor((t) => t === tunnel);
    expect(performance.now() - start).toBeLessThan(BOUND_MS + SCHEDULING_SLACK_MS);
    expect(hub.handler.keyAsChannel("a1").ready()).toBe(false);
    expect(tunnel.closed).toBe(true);
  });

  it("an agent notices its black-holed connection within its keepalive bound; with maxReverseTunnelsPerKey 1 it reconnects and serves at once", async () => {
    // The server does not ping here (grpc-js's default): the old tunnel stays registered, half-open.
    const { hub, proxy } = await proxiedHub({ maxReverseTunnelsPerKey: 1 });
    const disconnects = new EventLog<{ result: ServeResult; retry: RetryPlan | undefined }>();
    startAgent(cleanup, proxy.address, {
      name: "a1",
      clientOptions: { ...fastRedial, ...SHORT },
      serve: { reconnect: { initialBackoffMs: 0, onDisconnect: (result, retry) => disconnects.push({ result, retry }) } },
    });
    const old = await hub.tunnelOf("a1");

    proxy.blackHole();
    const start = performance.now();
    const [drop] = await disconnects.waitForCount(1);
    expect(performance.now() - start).toBeLessThan(BOUND_MS + SCHEDULING_SLACK_MS);
    expect(drop.result).toMatchObject({ started: true, error: { code: Code.UNAVAILABLE } });
    expect(old.closed).toBe(false); // the server has not noticed: half-open

    // The agent redials (new connections flow) and its new tunnel replaces the half-open one.
    const [, fresh] = await hub.opened.waitForCount(2);
    const carriers: TunnelChannel[] = [];
    const res = await unaryCall(hub.handler.keyAsChannel("a1"), TestService.method.unary, {}, { onTunnel: (t) => carriers.push(t) });
    expect(servedBy(res)).toBe("a1");
    expect(carriers).toEqual([fresh]);
    await hub.closed.waitFor((t) => t === old);
    expect((await old.done).error).toMatchObject({ code: Code.ABORTED });
    expect(hub.handler.allReverseTunnels()).toEqual([fresh]);
  });

  it("without replacing, the reconnecting agent would be refused while its half-open tunnel holds the key", async () => {
    const { hub, proxy } = await proxiedHub({ maxReverseTunnelsPerKey: 1, reverseTunnelConflict: "refuse-new" });
    const disconnects = new EventLog<{ result: ServeResult; retry: RetryPlan | undefined }>();
    startAgent(cleanup, proxy.address, {
      name: "a1",
      clientOptions: { ...fastRedial, ...SHORT },
      serve: { reconnect: { initialBackoffMs: 0, onDisconnect: (result, retry) => disconnects.push({ result, retry }) } },
    });
    await hub.tunnelOf("a1");
    proxy.blackHole();
    const refused = await disconnects.waitFor((d) => !d.result.started);
    expect(refused.result.error).toMatchObject({ code: Code.RESOURCE_EXHAUSTED });
    expect(hub.opened.items).toHaveLength(1);
  });
});
